"""Fixtures the caching tests share."""

from __future__ import annotations

import pytest

import cfcompile as cf


@pytest.fixture
def record(tmp_path):
    manager = cf.ArtifactManager("exp", cache_path=str(tmp_path / "cache"), folders=False)
    manager.current_stage_name = "make"
    return cf.Record(manager, cf.ExperimentParameters(name="p"))
