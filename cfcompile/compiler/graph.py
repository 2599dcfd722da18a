"""The StageGraph: the one intermediate representation every backend and view reads.

Nodes are ``(stage, record hash)`` with the traced ``Node`` as data; an edge
``producer -> consumer`` carries the names of the artifacts that flow along it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cfcompile.core.ir import InputKind, Node, NodeId
from cfcompile.core.workdir import WorkflowInfo
from cfcompile.errors import TraceError


class Dag:
    """The few directed-graph operations cfcompile needs, in plain dicts.

    networkx did this before; at 50,000 parameter sets (150,000 nodes) its per-node and
    per-edge attribute dicts cost about a third of the compile's memory and time, and its
    import a tenth of a second on every compile. The method names follow networkx's.
    """

    __slots__ = ("_node", "_pred")

    def __init__(self) -> None:
        self._node: dict[NodeId, Node] = {}
        self._pred: dict[NodeId, dict[NodeId, list[str]]] = {}  # consumer -> producer -> names

    def add_node(self, node_id: NodeId, node: Node) -> None:
        self._node[node_id] = node

    def add_edge(self, u: NodeId, v: NodeId, artifact: str) -> None:
        self._pred.setdefault(v, {}).setdefault(u, []).append(artifact)

    def has_edge(self, u: NodeId, v: NodeId) -> bool:
        return u in self._pred.get(v, ())

    def number_of_nodes(self) -> int:
        return len(self._node)

    def node(self, node_id: NodeId) -> Node:
        return self._node[node_id]

    def artifacts(self, u: NodeId, v: NodeId) -> list[str]:
        return self._pred[v][u]

    def predecessors(self, node_id: NodeId) -> Iterator[NodeId]:
        return iter(self._pred.get(node_id, ()))

    def in_edges(self, node_id: NodeId) -> list[tuple[NodeId, NodeId]]:
        return [(u, node_id) for u in self._pred.get(node_id, ())]

    def edges(self) -> Iterator[tuple[NodeId, NodeId, list[str]]]:
        """(producer, consumer, artifact names) for every edge."""
        for v, preds in self._pred.items():
            for u, names in preds.items():
                yield u, v, names

    def ancestors(self, node_id: NodeId) -> set[NodeId]:
        seen: set[NodeId] = set()
        todo = list(self._pred.get(node_id, ()))
        while todo:
            u = todo.pop()
            if u not in seen:
                seen.add(u)
                todo.extend(self._pred.get(u, ()))
        return seen


@dataclass
class StageGraph:
    graph: Dag
    params: dict[str, Any]  # params key (hash) -> parameter set
    specs: dict[str, Any]  # import path -> StageSpec
    info: WorkflowInfo
    _order: list[Node] | None = field(default=None, repr=False)

    def node(self, node_id: NodeId) -> Node:
        return self.graph.node(node_id)

    def nodes(self) -> list[Node]:
        """Nodes in trace order, which is a topological order (sorted once, then shared)."""
        if self._order is None:
            self._order = sorted(self.graph._node.values(), key=lambda n: n.order)
        return self._order

    def stages(self) -> list[str]:
        seen: dict[str, None] = {}
        for n in self.nodes():
            seen.setdefault(n.stage, None)
        return list(seen)


def build(nodes: dict[NodeId, Node], params: dict, specs: dict, info: WorkflowInfo) -> StageGraph:
    g = Dag()
    owner: dict[str, tuple[str, str]] = {}
    for node in nodes.values():
        g.add_node(node.id, node)
        for path in node.targets():
            other = owner.setdefault(path, node.id)
            if other != node.id:
                raise TraceError(
                    f"stages '{other[0]}' (hash {other[1]}) and '{node.stage}' (hash {node.hash}) "
                    f"both write {path}: rename a stage or an output so the cache files differ"
                )
    for node in nodes.values():
        for inp in node.inputs:
            if inp.kind == InputKind.ARTIFACT:
                g.add_edge(inp.node, node.id, inp.output)
    return StageGraph(g, params, specs, info)
