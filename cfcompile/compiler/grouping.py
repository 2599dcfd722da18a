"""Nodes -> job units: which nodes one scheduler job runs, and with what resources.

Both backends group through here, so ``--batch K`` means the same thing in a Snakefile, in a
submitit array and in the Snakemake slurm route, and a unit's resources follow one rule
(``core.resources.merge``: runtime summed, memory/CPUs/GPUs the largest).

- A *chain* is one parameter set's run of ordinary stages (no aggregate on the way, and no
  stage that asks for a GPU: those run one node per job, as do the stages after them).
- A *unit* is K chains run one after another in one process (``--batch K``), or one node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cfcompile.compiler.graph import StageGraph
from cfcompile.core.ir import Node, NodeId
from cfcompile.stages import StageKind

TARGET_UNIT_SECONDS = 2.0
"""A unit should run at least this long: a job costs about 0.1 s to start with a warm worker
and Snakemake adds 16-35 ms of scheduling, so 2 s keeps that overhead near 5%."""
UNITS_PER_CORE = 2
"""No fewer units than this per core, so uneven units still keep every core busy. Two, not
more: each finished unit costs Snakemake a scheduling pass and the next job's start (40-110 ms
measured), and with the chains dealt out in turn (``batch_units``) two units a core already
even out a sweep whose cost grows along the sets. 24 sets x 1 s on 2 cores, cold: 4 units a
core 12.61/12.82 s, 2 units a core 12.00/12.28 s."""
SAMPLE = 20
"""Recorded durations read per stage (metadata files): enough for a mean, cheap at 50,000."""


@dataclass
class BatchChoice:
    """How many parameter sets' chains go into one job, and why (``--dry-run`` says it)."""

    k: int
    why: str
    even: bool = False
    """Spread the chains evenly over ceil(n / k) units (``--batch auto``), rather than k
    each and the remainder in the last unit (an explicit ``--batch K``)."""


def stage_seconds(sg: StageGraph, stages: set[str]) -> dict[str, float]:
    """Mean recorded wall time per stage, from the metadata earlier runs left beside outputs."""
    return {stage: sum(v) / len(v) for stage, v in recorded_seconds(sg, stages).items()}


def recorded_seconds(sg: StageGraph, stages: set[str]) -> dict[str, list[float]]:
    """Recorded wall times of up to ``SAMPLE`` nodes per stage (stages never run are absent)."""
    samples: dict[str, list[float]] = {}
    misses: dict[str, int] = {}
    for node in sg.nodes():
        if node.stage not in stages or len(samples.get(node.stage, ())) >= SAMPLE:
            continue
        if misses.get(node.stage, 0) >= SAMPLE:  # never run, or mostly not: stop looking
            continue
        seconds = node_seconds(node)
        if seconds is None:
            misses[node.stage] = misses.get(node.stage, 0) + 1
        else:
            samples.setdefault(node.stage, []).append(seconds)
    return samples


def node_seconds(node: Node) -> float | None:
    """A node's recorded wall time, from the metadata its last run left; None if none."""
    target = node.targets()[0]
    base = os.path.splitext(target)[0]
    candidates = (base + "_metadata.json", target) if node.outputs else (target,)
    for path in candidates:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        seconds = (data.get("timing") or {}).get("seconds")
        if isinstance(seconds, int | float):
            return float(seconds)
    return None


def choose_batch(sg: StageGraph, batch: int | str, cores: int | None = None) -> BatchChoice:
    """K chains per job: ``--batch K`` as given, else chosen from recorded stage durations.

    K = 0 means one job per node. A chain known to take ``TARGET_UNIT_SECONDS`` or more runs
    node by node; shorter chains run as one job each, packed until a unit takes about that long
    but never into fewer than ``UNITS_PER_CORE`` units per core (a chain in one job also
    shortens Snakemake's critical path: it pays about 0.2 s a step). Stages never run have no
    duration: their chains are packed by the balance rule alone.
    """
    if batch != "auto":
        k = int(batch)
        return BatchChoice(k, f"--batch {k}") if k > 1 else BatchChoice(0, "one job per node")
    cores = cores or os.cpu_count() or 1
    batched = batchable_stages(sg)
    n_chains = len(chains([n for n in sg.nodes() if n.stage in batched]))
    if n_chains == 0:
        return BatchChoice(0, "no chains of ordinary stages")
    cap = max(1, -(-n_chains // (UNITS_PER_CORE * cores)))
    known = stage_seconds(sg, batched)
    if batched and set(known) == batched:
        chain = sum(known.values())
        why = f"recorded chain time {chain:.3g} s, {n_chains} chains, {cores} cores"
        if chain >= TARGET_UNIT_SECONDS:
            return BatchChoice(0, why + ": one job per node")
        k = max(1, min(cap, int(TARGET_UNIT_SECONDS // max(chain, 1e-3))))
        return BatchChoice(k, why, even=True)
    return BatchChoice(cap, f"no recorded durations; {n_chains} chains over {cores} cores", True)


def batchable_stages(sg: StageGraph) -> set[str]:
    """Stages whose every node is a non-aggregate fed only by non-aggregates or sources
    (computed once per graph: choosing K and cutting units both ask)."""
    cached = sg.__dict__.get("_batchable")
    if cached is None:
        cached = sg.__dict__["_batchable"] = _batchable_stages(sg)
    return set(cached)


def _batchable_stages(sg: StageGraph) -> set[str]:
    bad: set[str] = set()
    stages: set[str] = set()
    for node in sg.nodes():
        stages.add(node.stage)
        if node.kind == StageKind.AGGREGATE or _asks_gpu(node):
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


def _asks_gpu(node: Node) -> bool:
    """A GPU stage runs one node per job, and so do the stages after it: its job holds its
    devices for exactly that node (``runtime.gpu_slots``), and on Slurm it gets a request of
    its own (GPU partition, GPU type), never the one of a unit of CPU stages."""
    value = node.resources.get("gpu")
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def chains(nodes: list[Node]) -> dict[str, list[Node]]:
    """Record hash -> its nodes in trace order (which is topological)."""
    out: dict[str, list[Node]] = {}
    for node in nodes:
        out.setdefault(node.hash, []).append(node)
    return out


def batch_units(sg: StageGraph, batch: int, even: bool = False) -> dict[str, list[Node]]:
    """Unit name -> member nodes: up to K parameter sets' chains of batchable stages per unit.

    Nodes of other stages (aggregates and what follows them) run one per job and are in no
    unit; ``batch`` 0 means no units at all (every node is its own job). With ``even``, the
    same number of units holds the chains evenly (sizes differ by one at most): 25 chains at
    K = 4 are 4,4,4,4,3,3,3, not six of 4 and a last unit of 1, so the units in the last wave
    end together instead of leaving cores idle behind the longest. The chains are dealt out in
    turn (unit 0 gets sets 0, 7, 14, ...), not cut in runs: a sweep's cost often grows along
    its sets (sizes, epochs), and runs of neighbours would put the dearest sets in one unit.
    """
    if batch <= 0:
        return {}
    batched = batchable_stages(sg)
    by_record = chains([n for n in sg.nodes() if n.stage in batched])
    hashes = list(by_record)
    n_units = -(-len(hashes) // batch)
    if even and n_units:
        groups = [hashes[i::n_units] for i in range(n_units)]
    else:
        groups = [hashes[start : start + batch] for start in range(0, len(hashes), batch)]
    out = {}
    for i, group in enumerate(groups):
        members = [node for h in group for node in by_record[h]]
        out[str(i)] = sorted(members, key=lambda node: node.order)
    return out


def levels(
    sg: StageGraph, todo: list[Node], key: Callable[[Node], Any] | None = None
) -> dict[NodeId, int]:
    """Dependency level per node; a node on the same record's chain stays on its level,
    unless ``key`` (what a node asks of Slurm: its GPU request, per-stage sbatch options)
    differs from the node before it, which then starts the next level: the two run in
    different tasks, with different requests."""
    todo_ids = {n.id for n in todo}
    level: dict[NodeId, int] = {}
    keys = {n.id: key(n) for n in todo} if key is not None else {}
    for node in todo:  # trace order is topological
        lv = 0
        for u in sg.graph.predecessors(node.id):
            if u not in todo_ids:
                continue
            up = sg.node(u)
            same_chain = (
                node.kind != StageKind.AGGREGATE
                and up.kind != StageKind.AGGREGATE
                and up.hash == node.hash
                and keys.get(u) == keys.get(node.id)
            )
            lv = max(lv, level[u] if same_chain else level[u] + 1)
        level[node.id] = lv
    return level
