"""A node's reportables found in the cache for the report (``views.report.reportable_render``)."""

from __future__ import annotations

from cfcompile.compiler.plan import Status, plan
from cfcompile.views.report import reportable_render


def test_a_node_finds_its_reportables_in_the_cache(traced):
    sg = traced(overwrite=False)
    node = next(n for n in sg.nodes() if n.stage == "fit")
    (path,) = reportable_render.reportable_paths(sg, node.id)
    assert path.endswith("_fitted.pkl")
    assert all(plan(sg)[n.id].status == Status.CACHED for n in sg.nodes())
