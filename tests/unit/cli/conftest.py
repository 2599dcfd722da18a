"""Fixtures the command line's unit tests share."""

from __future__ import annotations

import gc
import logging

import pytest


@pytest.fixture
def process_settings_kept():
    """``cli.main`` sets process-wide things for a command's one run (the collector's pace,
    cfcompile's log level, a frozen heap at exit): pytest's own come back afterwards."""
    threshold = gc.get_threshold()
    level = logging.getLogger("cfcompile").level
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    logging.getLogger("cfcompile").setLevel(level)
