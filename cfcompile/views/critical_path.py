"""``--dry-run``'s critical path and wall-time estimate, from recorded stage times.

The estimate works at stage level, so it costs the same at 7 nodes and at 150,000: each stage
weighs what its slowest recorded node took (``grouping.recorded_seconds`` samples a few
nodes' metadata per stage), the critical path is the heaviest chain of stages that have nodes
to run (``networkx.dag_longest_path``), and the work is every node to run at its stage's mean
time. On ``cores`` the stages cannot finish sooner than the larger of the two: work / cores
(the cores are busy) and the critical path (each stage waits for the one before). It leaves
out what a run adds (Snakemake's start, about a second or two here, and each job's start),
and stages that never ran count as nothing, which the result names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import recorded_seconds
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.core.ir import NodeId
from cfcompile.views.networks import stage_graph


@dataclass
class Estimate:
    path: list[str]  # stages of the critical path, in order
    path_seconds: float
    nodes: int  # nodes to run
    work_seconds: float  # those nodes at their stage's mean recorded time
    cores: int
    unknown: list[str] = field(default_factory=list)  # stages to run with no recorded time

    @property
    def wall_seconds(self) -> float:
        return max(self.work_seconds / max(1, self.cores), self.path_seconds)

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "path_seconds": round(self.path_seconds, 3),
            "nodes": self.nodes,
            "work_seconds": round(self.work_seconds, 3),
            "cores": self.cores,
            "wall_seconds": round(self.wall_seconds, 3),
            "stages_without_recorded_times": self.unknown,
        }


def critical_path(g) -> tuple[list[str], float]:
    """The heaviest path of node weights, and its weight. Stages that feed each other across
    records (a cycle at stage level) count as one step, weighing their sum."""
    import networkx as nx  # about 0.3 s: paid by the views that walk the graph, never a compile

    dag = nx.condensation(g)  # strongly connected stages become one node; a DAG already stays
    for _, data in dag.nodes(data=True):
        data["weight"] = sum(g.nodes[s]["weight"] for s in data["members"])
    source = "__start__"
    dag.add_node(source, weight=0.0)
    for c in list(dag.nodes):
        if c != source:
            dag.add_edge(source, c)
    for u, v in dag.edges:
        dag.edges[u, v]["w"] = dag.nodes[v]["weight"]
    steps = [c for c in nx.dag_longest_path(dag, weight="w") if c != source]
    order = list(g.nodes)
    path = [s for c in steps for s in sorted(dag.nodes[c]["members"], key=order.index)]
    return path, sum(dag.nodes[c]["weight"] for c in steps)


def estimate(sg: StageGraph, plans: dict[NodeId, NodePlan], cores: int) -> Estimate | None:
    """The estimate for what the plan runs; None when nothing runs."""
    to_run: dict[str, int] = {}
    for node in sg.nodes():
        if plans[node.id].status == Status.RUN:
            to_run[node.stage] = to_run.get(node.stage, 0) + 1
    if not to_run:
        return None
    times = recorded_seconds(sg, set(to_run))
    slowest = {stage: max(v) for stage, v in times.items()}
    mean = {stage: sum(v) / len(v) for stage, v in times.items()}
    path, seconds = critical_path(stage_graph(sg, weight=slowest))
    path = [stage for stage in path if stage in to_run]  # cached stages weigh nothing
    work = sum(n * mean.get(stage, 0.0) for stage, n in to_run.items())
    unknown = [stage for stage in to_run if stage not in times]
    return Estimate(path, seconds, sum(to_run.values()), work, cores, unknown)


def describe(e: dict) -> list[str]:
    """The estimate (``Estimate.as_dict``) in words, for the dry run's text output."""
    if not e["path_seconds"] and not e["work_seconds"]:
        return [
            f"{e['nodes']} node(s) to run; no recorded stage times yet, so no critical path or "
            "wall-time estimate (a first run records them in each output's metadata)"
        ]
    lines = [
        f"critical path: {' -> '.join(e['path'])}, {e['path_seconds']:.3g} s (the slowest "
        "recorded node of each stage)",
        f"{e['nodes']} node(s) to run, {e['work_seconds']:.3g} s of recorded stage time: about "
        f"{e['wall_seconds']:.3g} s on {e['cores']} core(s), plus Snakemake's start and each "
        "job's",
    ]
    if e["stages_without_recorded_times"]:
        lines.append(
            "no recorded times yet for "
            + ", ".join(e["stages_without_recorded_times"])
            + ": counted as 0 s (a first run records them)"
        )
    return lines
