"""Fixtures the core tests share."""

from __future__ import annotations

import pytest

import cfcompile as cf


@pytest.fixture
def manager(tmp_path):
    return cf.ArtifactManager("exp", cache_path=str(tmp_path / "cache"), folders=False)
