"""The graph as data: JSON and GraphML (``views.networks``)."""

from __future__ import annotations

import json

from cfcompile.compiler.plan import plan
from cfcompile.views import networks


def test_the_graph_exports_as_data(traced):
    sg = traced(overwrite=False)
    data = json.loads(networks.to_json(networks.node_graph(sg, plan(sg), set())))
    assert len(data["nodes"]) == 12 and len(data["edges"]) == 3 * 4  # 3 edges a set
    assert {n["state"] for n in data["nodes"]} == {"cached"}
    xml = networks.to_graphml(networks.stage_graph(sg, plan(sg)))
    assert xml.startswith("<?xml") and 'attr.name="artifacts"' in xml
