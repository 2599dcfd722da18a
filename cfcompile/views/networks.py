"""The StageGraph as a networkx graph, for the views that need graph algorithms.

The compile keeps its own lean ``graph.Dag`` (networkx costs 2.5x the memory and time at
150,000 nodes); the views that walk or export the graph hand it to networkx here: the dry
run's critical path, the transitive reduction of the stage-level picture, and ``--dag
graphml`` / ``--dag json`` for Gephi, Cytoscape or pandas. networkx is imported inside these
functions (about 0.3 s), so a compile or a job never pays for it.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.core.ir import NodeId

FAILED = "failed"


def _nx() -> Any:
    import networkx  # about 0.3 s: paid by the views that walk the graph, never a compile

    return networkx


def node_state(plans: dict[NodeId, NodePlan], failed: set[NodeId], nid: NodeId) -> str:
    """cached, run or failed: what a picture colours a node by."""
    return FAILED if nid in failed else str(plans[nid].status)


def node_graph(sg: StageGraph, plans: dict[NodeId, NodePlan], failed: set[NodeId]) -> Any:
    """Every node (``STAGE:HASH``) with its stage, parameter set, kind and state; every edge
    with the artifacts that flow along it."""
    g = _nx().DiGraph(name=sg.info.experiment)
    for node in sg.nodes():
        g.add_node(
            f"{node.stage}:{node.hash}",
            stage=node.stage,
            hash=node.hash,
            params=node.label,
            kind=str(node.kind),
            state=node_state(plans, failed, node.id),
        )
    for u, v, names in sg.graph.edges():
        g.add_edge(f"{u[0]}:{u[1]}", f"{v[0]}:{v[1]}", artifacts=", ".join(names))
    return g


def stage_graph(
    sg: StageGraph,
    plans: dict[NodeId, NodePlan] | None = None,
    failed: set[NodeId] | None = None,
    weight: dict[str, float] | None = None,
) -> Any:
    """One node per stage (with its node counts per state and a ``weight``), one edge per pair
    of stages that artifacts flow between (a stage feeding itself, through a copied record, is
    no edge: it adds no wait)."""
    g = _nx().DiGraph(name=sg.info.experiment)
    counts: dict[str, Counter] = {stage: Counter() for stage in sg.stages()}
    if plans is not None:
        for node in sg.nodes():
            counts[node.stage][node_state(plans, failed or set(), node.id)] += 1
    for stage, c in counts.items():
        g.add_node(
            stage,
            nodes=sum(c.values()),
            cached=c[Status.CACHED],
            run=c[Status.RUN],
            failed=c[FAILED],
            weight=(weight or {}).get(stage, 0.0),
        )
    for u, v, names in sg.graph.edges():
        if u[0] == v[0]:
            continue
        if g.has_edge(u[0], v[0]):
            g.edges[u[0], v[0]]["names"].update(names)
        else:
            g.add_edge(u[0], v[0], names=set(names))
    for _, _, data in g.edges(data=True):
        data["artifacts"] = ", ".join(sorted(data.pop("names")))
    return g


def reduced(g: Any) -> Any:
    """The transitive reduction: an edge that a longer path implies is left out (the picture
    keeps the order, not every artifact); a graph with a cycle is returned as it is."""
    nx = _nx()
    if not nx.is_directed_acyclic_graph(g):
        return g
    out = nx.transitive_reduction(g)
    out.graph.update(g.graph)
    out.add_nodes_from(g.nodes(data=True))
    for u, v in out.edges:
        out.edges[u, v].update(g.edges[u, v])
    out.graph["omitted"] = [
        (u, v, d["artifacts"]) for u, v, d in g.edges(data=True) if not out.has_edge(u, v)
    ]
    return out


def to_graphml(g: Any) -> str:
    buffer = io.BytesIO()
    _nx().write_graphml(g, buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def to_json(g: Any) -> str:
    """networkx's node-link form: ``{"nodes": [...], "edges": [...]}``, which pandas reads
    with ``pd.json_normalize(data["nodes"])``."""
    data = _nx().node_link_data(g, edges="edges")
    return json.dumps(data, indent=1, default=str) + "\n"
