"""The critical path and the wall-time estimate (``views.critical_path``)."""

from __future__ import annotations

from cfcompile.compiler.plan import plan
from cfcompile.views import critical_path


def test_the_critical_path_follows_the_slowest_recorded_chain(traced):
    sg = traced(overwrite=True)
    plans = plan(sg)
    found = critical_path.estimate(sg, plans, cores=2)
    assert found.path == ["prepare", "fit", "score"]
    assert found.path_seconds >= 0.15  # the slowest prepare slept 0.15 s
    assert found.nodes == 12 and found.work_seconds >= 2 * (0.05 + 0.15)
    assert found.wall_seconds == max(found.work_seconds / 2, found.path_seconds)
    assert critical_path.estimate(sg, plan(traced(overwrite=False)), 2) is None  # all cached
    assert "critical path: prepare -> fit -> score" in critical_path.describe(found.as_dict())[0]
