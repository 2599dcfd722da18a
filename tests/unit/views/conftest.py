"""Fixtures the views tests share."""

from __future__ import annotations

import pytest
from helpers import workflow_info

import cfcompile as cf
from cfcompile.compiler import graph
from cfcompile.compiler.trace import TraceEngine

from .traced_sweep import SETS, P, run


@pytest.fixture
def traced(tmp_path):
    """The experiment run eagerly once (metadata with real timings), then traced."""
    run(SETS, cf.ArtifactManager("t", cache_path=str(tmp_path / "cache"), folders=False))

    def trace(overwrite: bool):
        engine = TraceEngine(str(tmp_path / "sources"))
        cache = str(tmp_path / "cache")
        m = cf.ArtifactManager("t", cache_path=cache, engine=engine, overwrite=overwrite)
        run([P(name=p.name, x=p.x, seed=p.seed) for p in SETS], m)
        return graph.build(engine.nodes, engine.params, engine.specs, workflow_info(tmp_path))

    return trace
