"""Nodes -> job units: which nodes one scheduler job runs, and with what resources.

Both backends group through here, so ``--batch K`` means the same thing in a Snakefile, in a
submitit array and in the Snakemake slurm route, and a unit's resources follow one rule
(``ir.unit_resources``: runtime summed, memory/CPUs/GPUs the largest).

- A *chain* is one parameter set's run of ordinary stages (no aggregate on the way).
- A *unit* is K chains run one after another in one process (``--batch K``), or one node.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cfcompile.graph import StageGraph
from cfcompile.ir import Node, NodeId, unit_resources
from cfcompile.plan import RUN, NodePlan


def resolve_batch(batch: int | str, records: int, cores: int | None = None) -> int:
    """``auto``: about four units per local core, enough to balance uneven units."""
    if batch != "auto":
        return int(batch)
    per_job = -(-records // (4 * (cores or os.cpu_count() or 1)))
    return max(1, per_job)


def batchable_stages(sg: StageGraph) -> set[str]:
    """Stages whose every node is a non-aggregate fed only by non-aggregates or sources."""
    bad: set[str] = set()
    stages: set[str] = set()
    for node in sg.nodes():
        stages.add(node.stage)
        if node.kind == "aggregate":
            bad.add(node.stage)
    changed = True
    while changed:
        changed = False
        for node in sg.nodes():
            if node.stage in bad:
                continue
            if any(u[0] in bad for u in node.upstream()):
                bad.add(node.stage)
                changed = True
    return stages - bad


def chains(nodes: list[Node]) -> dict[str, list[Node]]:
    """Record hash -> its nodes in trace order (which is topological)."""
    out: dict[str, list[Node]] = {}
    for node in nodes:
        out.setdefault(node.hash, []).append(node)
    return out


def batch_units(sg: StageGraph, batch: int) -> dict[str, list[Node]]:
    """Unit name -> member nodes: K parameter sets' chains of batchable stages per unit.

    Nodes of other stages (aggregates and what follows them) run one per job and are in no
    unit; ``batch`` 0 means no units at all (every node is its own job).
    """
    if batch <= 0:
        return {}
    batched = batchable_stages(sg)
    by_record = chains([n for n in sg.nodes() if n.stage in batched])
    hashes = list(by_record)
    out = {}
    for start in range(0, len(hashes), batch):
        members = [n for h in hashes[start : start + batch] for n in by_record[h]]
        out[str(start // batch)] = sorted(members, key=lambda n: n.order)
    return out


@dataclass
class Array:
    """One submitit array: tasks of one kind at one dependency level."""

    level: int
    kind: str  # "chains" or "aggregates"
    tasks: list[list[NodeId]]
    depends: set[int] = field(default_factory=set)  # indices of upstream arrays
    job_id: str | None = None
    resources: dict = field(default_factory=dict)


def _levels(sg: StageGraph, todo: list[Node]) -> dict[NodeId, int]:
    """Dependency level per node; a node on the same record's chain stays on its level."""
    todo_ids = {n.id for n in todo}
    level: dict[NodeId, int] = {}
    for node in todo:  # trace order is topological
        lv = 0
        for u in sg.graph.predecessors(node.id):
            if u not in todo_ids:
                continue
            up = sg.node(u)
            same_chain = (
                node.kind != "aggregate" and up.kind != "aggregate" and up.hash == node.hash
            )
            lv = max(lv, level[u] if same_chain else level[u] + 1)
        level[node.id] = lv
    return level


def arrays(sg: StageGraph, plans: dict[NodeId, NodePlan], batch: int = 1) -> list[Array]:
    """The nodes to run as arrays, level by level; each task runs ``batch`` chains."""
    todo = [n for n in sg.nodes() if plans[n.id].status == RUN]
    level = _levels(sg, todo)
    by_key: dict[tuple[int, str], Array] = {}
    chain_ids: dict[tuple[int, str], list[NodeId]] = {}
    for node in todo:
        lv = level[node.id]
        if node.kind == "aggregate":
            by_key.setdefault((lv, "aggregates"), Array(lv, "aggregates", [])).tasks.append(
                [node.id]
            )
        else:
            chain_ids.setdefault((lv, node.hash), []).append(node.id)
    per_level: dict[int, list[list[NodeId]]] = {}
    for (lv, _), ids in chain_ids.items():
        per_level.setdefault(lv, []).append(ids)
    k = max(1, batch)
    for lv, level_chains in per_level.items():
        tasks = [
            [nid for chain in level_chains[i : i + k] for nid in chain]
            for i in range(0, len(level_chains), k)
        ]
        by_key[(lv, "chains")] = Array(lv, "chains", tasks)
    ordered = [by_key[key] for key in sorted(by_key, key=lambda key: (key[0], key[1] != "chains"))]
    where: dict[NodeId, int] = {}
    for i, arr in enumerate(ordered):
        for task in arr.tasks:
            for nid in task:
                where[nid] = i
        arr.resources = array_resources(sg, arr)
    for i, arr in enumerate(ordered):
        for task in arr.tasks:
            for nid in task:
                for u in sg.graph.predecessors(nid):
                    if u in where and where[u] != i:
                        arr.depends.add(where[u])
    return ordered


def array_resources(sg: StageGraph, arr: Array) -> dict:
    """One resource request for every task of an array: the largest task's (unit rule)."""
    out: dict = {"mem_mb": 0, "cpus": 1, "gpus": 0, "runtime": 0}
    for task in arr.tasks:
        nodes = [sg.node(n) for n in task]
        res = unit_resources(nodes)
        out["mem_mb"] = max(out["mem_mb"], int(res.get("mem_mb", 0)))
        out["gpus"] = max(out["gpus"], int(res.get("gpu", 0)))
        out["runtime"] = max(out["runtime"], int(res.get("runtime", 0)))
        out["cpus"] = max(out["cpus"], *(int(n.threads) for n in nodes))
    return out
