"""The StageGraph: the one intermediate representation every backend and view reads.

Nodes are ``(stage, record hash)`` with the traced ``Node`` fields as attributes; an edge
``producer -> consumer`` carries the names of the artifacts that flow along it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from cfcompile.errors import TraceError
from cfcompile.ir import Node, NodeId
from cfcompile.workdir import WorkflowInfo


@dataclass
class StageGraph:
    graph: nx.DiGraph
    params: dict[str, Any]  # params key (hash) -> parameter set
    specs: dict[str, Any]  # import path -> StageSpec
    info: WorkflowInfo

    def node(self, node_id: NodeId) -> Node:
        return self.graph.nodes[node_id]["node"]

    def nodes(self) -> list[Node]:
        """Nodes in trace order, which is a topological order."""
        return sorted((d["node"] for _, d in self.graph.nodes(data=True)), key=lambda n: n.order)

    def stages(self) -> list[str]:
        seen: dict[str, None] = {}
        for n in self.nodes():
            seen.setdefault(n.stage, None)
        return list(seen)


def build(nodes: dict[NodeId, Node], params: dict, specs: dict, info: WorkflowInfo) -> StageGraph:
    g = nx.DiGraph()
    owner: dict[str, tuple[str, str]] = {}
    for node in nodes.values():
        g.add_node(node.id, node=node)
        for path in node.targets():
            other = owner.setdefault(path, node.id)
            if other != node.id:
                raise TraceError(
                    f"stages '{other[0]}' (hash {other[1]}) and '{node.stage}' (hash {node.hash}) "
                    f"both write {path}: rename a stage or an output so the cache files differ"
                )
    for node in nodes.values():
        for inp in node.inputs:
            if inp.kind == "artifact":
                if g.has_edge(inp.node, node.id):
                    g.edges[inp.node, node.id]["artifacts"].append(inp.output)
                else:
                    g.add_edge(inp.node, node.id, artifacts=[inp.output])
    return StageGraph(g, params, specs, info)
