"""Fixtures the unit tests of several folders share."""

from __future__ import annotations

import pytest
from helpers import CHAIN

from cfcompile.driver.pipeline import build, prepare
from cfcompile.driver.selection import Selection
from cfcompile.runs import manager_preset


@pytest.fixture(autouse=True)
def run_store_in_tmp(tmp_path_factory):
    """A manager a unit test builds keeps its run store (``store.json``, the params registry)
    in the test's folder, not in ``data/`` of whatever directory pytest runs from."""
    with manager_preset(manager_cache_path=str(tmp_path_factory.mktemp("manager_cache"))):
        yield


@pytest.fixture
def chain(project, tmp_path):
    """The chain project (tests/projects/chain) compiled in this process (``driver.build``,
    then ``prepare``), as ``cfcompile chain -p few --batch 1`` compiles it; no stage runs.
    Returns (project root, workflow folder, the environment its stages log with)."""
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    prepare(build(Selection("chain", ("few",), project=str(root), batch=1)))
    return root, str(root / ".cfcompile" / "chain"), env
