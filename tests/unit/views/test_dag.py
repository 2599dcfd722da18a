"""The stage picture (``views.dag``): implied arrows left out and named."""

from __future__ import annotations

from cfcompile.compiler.plan import plan
from cfcompile.views import dag, networks


def test_the_stage_picture_leaves_out_implied_arrows_and_names_them(traced):
    sg = traced(overwrite=False)
    plans = plan(sg)
    g = networks.reduced(networks.stage_graph(sg, plans))
    assert sorted(g.edges) == [("fit", "score"), ("prepare", "fit")]
    assert g.graph["omitted"] == [("prepare", "score", "data")]
    text = dag.to_dot(sg, plans, "stages")
    assert "prepare -&gt; score: data" in text and "4 node(s): 4 cached, 0 to run" in text
