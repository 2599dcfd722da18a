"""Fixtures the unit tests of several folders share."""

from __future__ import annotations

import pytest
from helpers import CHAIN

from cfcompile.driver.pipeline import build, prepare
from cfcompile.driver.selection import Selection


@pytest.fixture
def chain(project, tmp_path):
    """The chain project (tests/projects/chain) compiled in this process (``driver.build``,
    then ``prepare``), as ``cfcompile chain -p few --batch 1`` compiles it; no stage runs.
    Returns (project root, workflow folder, the environment its stages log with)."""
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    prepare(build(Selection("chain", ("few",), project=str(root), batch=1)))
    return root, str(root / ".cfcompile" / "chain"), env
