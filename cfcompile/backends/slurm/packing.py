"""Nodes -> the sbatch arrays a Slurm site accepts: chains per task, time, resources, chaining.

The nodes to run are cut into dependency levels (``grouping.levels``). At each level, each
parameter set's chain of ordinary stages goes whole into one task, K chains to a task, and
each aggregate is a task of its own. K comes from a target task duration (minutes: Slurm
schedules a task in seconds and sites discourage tiny jobs) over the chains' recorded times,
or from ``--batch K``; a stage never run is assumed to take ``first_stage_seconds``. K then
shrinks to keep a task within its partition's MaxTime and grows, saying so, until every task
of the sweep plus the retry job fits what the site still lets this user queue.

A task's time limit covers every chain it runs: a stage's declared runtime is a limit, and a
recorded time becomes one at SAFETY times its p95; a task with a stage of unknown length
gets at least the profile's default runtime. Arrays are split at MaxArraySize. An array
waits with ``aftercorr`` on an upstream array whose tasks it mirrors one to one (a set's
chain after an aggregate waits for its own earlier chain only), otherwise with ``afterok``
on the whole upstream array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cfcompile.backends.slurm.gpu import check_declared, task_ask
from cfcompile.backends.slurm.limits import SiteLimits
from cfcompile.backends.slurm.requests import (
    SAFETY,
    STARTUP_MINUTES,
    ArrayKind,
    Asks,
    Demands,
    Estimates,
    Request,
    node_gpu_ask,
)
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import BatchChoice, batchable_stages, chains, choose_batch, levels
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.core.ir import Node, NodeId
from cfcompile.errors import CfcompileError
from cfcompile.stages import StageKind

RETRY_JOBS = 1
"""The one-task job that resubmits what hit a limit: it counts against the submit limits."""


@dataclass
class Packing:
    requests: list[Request]
    chains_per_task: int
    why: list[str]  # what decided, one sentence each (--dry-run and --submit print them)
    retry_job: bool

    @property
    def tasks(self) -> int:
        return sum(len(r.tasks) for r in self.requests)


@dataclass
class _Group:
    """Chains (or aggregates) of one level that run the same stages: one resource request."""

    level: int
    kind: ArrayKind
    stages: tuple[str, ...]
    chains: list[list[NodeId]]
    mirrors: int | None = None  # index of the group whose chains this one continues, 1:1


# long: one decision in order (group, estimate, time bound, room, cut, chain); split, the
# sentences that explain it would lose their order
def pack(
    sg: StageGraph,
    plans: dict[NodeId, NodePlan],
    site: SiteSettings,
    limits: SiteLimits,
    batch: int | str = "auto",
    demands: Demands | None = None,
) -> Packing:
    """The arrays for the nodes ``plans`` says to run, and why they are cut as they are."""
    demands = demands or Demands()
    todo = [n for n in sg.nodes() if plans[n.id].status == Status.RUN]
    why: list[str] = []
    if not todo:
        return Packing([], 0, ["nothing to run"], False)
    check_declared(todo)
    groups = _groups(sg, todo, lambda n: (node_gpu_ask(n, site, demands), site.sbatch(n.stage)))
    est = Estimates(sg, {n.stage for n in todo}, site.first_stage_seconds)
    chain_groups = [g for g in groups if g.kind == ArrayKind.CHAINS]
    n_aggregate = sum(len(g.chains) for g in groups if g.kind == ArrayKind.AGGREGATES)
    retry = RETRY_JOBS if site.retry else 0

    def chain_seconds(chain: list[NodeId]) -> float:
        return sum(est.mean(nid[0]) for nid in chain)

    asks = Asks(est, site, demands)
    guess = SAFETY * site.first_stage_seconds / 60
    minutes_of: dict[int, tuple[float, bool]] = {}  # id(chain): asked twice, worked out once

    def chain_minutes(chain: list[NodeId]) -> tuple[float, bool]:
        """(minutes the chain may take, whether a stage of it has no known length: counted
        at SAFETY times first_stage_seconds here, the profile's runtime for a whole task)."""
        found = minutes_of.get(id(chain))
        if found is None:
            limits_ = [asks.of(sg.node(n))[0] for n in chain]
            found = sum(guess if x is None else x for x in limits_), None in limits_
            minutes_of[id(chain)] = found
        return found

    every = [c for g in chain_groups for c in g.chains]
    k = 1
    if every:
        mean_chain = sum(chain_seconds(c) for c in every) / len(every)
        unknown = sorted({n[0] for c in every for n in c if n[0] not in est.samples})
        basis = (
            f"recorded stage times: a chain takes {_secs(mean_chain)}"
            if not unknown
            else f"a chain takes about {_secs(mean_chain)} ({', '.join(unknown)} never ran: "
            f"{site.first_stage_seconds:g} s assumed each, first_stage_seconds)"
        )
        if batch == "auto":
            k = max(1, int(site.target_task_minutes * 60 // max(mean_chain, 1e-3)))
            why.append(
                f"{basis}; {k} chain(s) per task make tasks of about "
                f"{_secs(k * mean_chain)} (target_task_minutes {site.target_task_minutes:g})"
            )
        else:
            k = max(1, int(batch))
            why.append(f"--batch {batch}: {k} chain(s) per task; {basis}")
        k_time = _time_bound(every, chain_minutes, limits, site, demands)
        if k_time is not None and k > k_time[0]:
            k = k_time[0]
            why.append(k_time[1])
        room, tightest = limits.room()
        needed = _task_count(chain_groups, k) + n_aggregate + retry
        if room is not None and needed > room:
            grown = _smallest_fitting(chain_groups, room - n_aggregate - retry)
            if grown is None or (k_time is not None and grown > k_time[0]):
                raise CfcompileError(_cannot_fit(needed, room, tightest, chain_groups, n_aggregate,
                                                 retry, k_time))  # fmt: skip
            why.append(
                f"{tightest.name} is {tightest.limit} with {tightest.used} {tightest.counted}: "
                f"room for {room} job(s), so {grown} chains per task instead of {k} "
                f"({_task_count(chain_groups, grown)} chain task(s), {n_aggregate} aggregate, "
                f"{retry} retry job)"
            )
            k = grown
    elif (room := limits.room()[0]) is not None and n_aggregate + retry > room:
        raise CfcompileError(_cannot_fit(n_aggregate + retry, room, limits.room()[1], [],
                                         n_aggregate, retry, None))  # fmt: skip
    requests = _requests(sg, groups, k, site, limits, demands, chain_minutes, asks)
    splits = [r for r in requests if len(r.tasks) == limits.max_tasks_per_array]
    if splits and len(requests) > len(groups):
        why.append(
            f"MaxArraySize {limits.max_array_size}: arrays are cut at "
            f"{limits.max_tasks_per_array} tasks ({len(requests)} arrays)"
        )
    return Packing(requests, k, why, bool(retry))


def snakemake_batch(sg: StageGraph, site: SiteSettings, batch: int | str) -> BatchChoice:
    """``--run --profile slurm``: K chains per Snakemake job from the same target task
    duration as the arrays (each job is a Slurm job; local cores have nothing to say)."""
    if batch != "auto":
        return choose_batch(sg, batch)
    stages = batchable_stages(sg)
    found = chains([n for n in sg.nodes() if n.stage in stages])
    if not found:
        return BatchChoice(0, "no chains of ordinary stages")
    est = Estimates(sg, stages, site.first_stage_seconds)
    mean = sum(sum(est.mean(n.stage) for n in c) for c in found.values()) / len(found)
    k = max(1, int(site.target_task_minutes * 60 // max(mean, 1e-3)))
    why = (
        f"a chain takes about {_secs(mean)} (recorded, or first_stage_seconds "
        f"{site.first_stage_seconds:g} s a stage never run): {k} per Slurm job for jobs of about "
        f"{_secs(k * mean)} (target_task_minutes {site.target_task_minutes:g})"
    )
    return BatchChoice(k if k > 1 else 0, why)


def _secs(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min"


def _groups(sg: StageGraph, todo: list[Node], key: Any = None) -> list[_Group]:
    """Per level: chains grouped by the stages they run, then aggregates by stage; a group of
    chains that each continue exactly one chain of an earlier group, one to one, mirrors it.
    ``key``: what a node asks of Slurm; a chain is cut where it changes (``grouping.levels``:
    GPU and CPU stages of one chain run in different tasks)."""
    level = levels(sg, todo, key)
    chains: dict[tuple[int, str], list[NodeId]] = {}
    aggregates: dict[tuple[int, str], list[list[NodeId]]] = {}
    for node in todo:
        lv = level[node.id]
        if node.kind == StageKind.AGGREGATE:
            aggregates.setdefault((lv, node.stage), []).append([node.id])
        else:
            chains.setdefault((lv, node.hash), []).append(node.id)
    by_stages: dict[tuple[int, tuple[str, ...]], list[list[NodeId]]] = {}
    for (lv, _), ids in chains.items():
        by_stages.setdefault((lv, tuple(n[0] for n in ids)), []).append(ids)
    groups = [_Group(lv, ArrayKind.CHAINS, st, c) for (lv, st), c in by_stages.items()]
    groups += [_Group(lv, ArrayKind.AGGREGATES, (st,), a) for (lv, st), a in aggregates.items()]
    groups.sort(key=lambda g: (g.level, g.kind != ArrayKind.CHAINS))
    _find_mirrors(sg, groups)
    return groups


def _find_mirrors(sg: StageGraph, groups: list[_Group]) -> None:
    where: dict[NodeId, tuple[int, int]] = {}  # node -> (group, chain index)
    for gi, g in enumerate(groups):
        for ci, chain in enumerate(g.chains):
            for nid in chain:
                where[nid] = (gi, ci)
    for g in groups:
        if g.kind != ArrayKind.CHAINS:
            continue
        anchors: list[tuple[int, int]] = []
        for chain in g.chains:
            mine = set(chain)
            ups = {
                where[u]
                for nid in chain
                for u in sg.graph.predecessors(nid)
                if u in where and u not in mine and groups[where[u][0]].kind == ArrayKind.CHAINS
            }
            if len(ups) != 1:
                break
            anchors.append(next(iter(ups)))
        else:
            targets = {a[0] for a in anchors}
            if len(targets) == 1:
                up = targets.pop()
                positions = sorted(a[1] for a in anchors)
                if positions == list(range(len(groups[up].chains))):
                    order = {a[1]: chain for a, chain in zip(anchors, g.chains, strict=True)}
                    g.chains = [order[i] for i in range(len(order))]
                    g.mirrors = up


def _task_count(groups: list[_Group], k: int) -> int:
    return sum(-(-len(g.chains) // k) for g in groups)


def _smallest_fitting(groups: list[_Group], room: int) -> int | None:
    """The smallest K whose chain tasks fit ``room``; None when one task a group does not."""
    if room < len(groups):
        return None
    lo, hi = 1, max(len(g.chains) for g in groups)
    while lo < hi:
        mid = (lo + hi) // 2
        if _task_count(groups, mid) <= room:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _time_bound(every, chain_minutes, limits, site, demands) -> tuple[int, str] | None:
    """The most chains a task may run within its time: --time, else the partition's MaxTime."""
    longest = max(chain_minutes(c)[0] for c in every)
    if demands.time_min:
        budget, what = demands.time_min - STARTUP_MINUTES, f"--time {demands.time_min}"
    else:
        max_time, partition = limits.max_time(site.partition)
        if max_time is None:
            return None
        budget, what = max_time - STARTUP_MINUTES, f"MaxTime {max_time} min of {partition}"
    if longest <= 0:
        return None
    if longest > budget:
        if demands.time_min:
            return 1, f"{what} is less than one chain may take ({longest:.0f} min): 1 per task"
        raise CfcompileError(
            f"one chain may take {longest:.0f} min (declared runtimes, or {SAFETY}x recorded "
            f"times), more than {what} allows: lower the stages' runtime, or submit to a "
            "partition with a longer MaxTime (--partition)"
        )
    k = max(1, int(budget // longest))
    return k, f"{what}: at most {k} chain(s) of up to {longest:.1f} min per task"


def _cannot_fit(needed, room, tightest, groups, n_aggregate, retry, k_time) -> str:
    least = len(groups) + n_aggregate + retry
    if room >= least and k_time is not None:
        return (
            f"{tightest.name} leaves room for {room} job(s), and fitting this sweep into them "
            f"would put more chains in a task than {k_time[1].split(':')[0]} allows; wait for "
            "queued jobs to finish, submit fewer sets (--indices), or ask for a longer time"
        )
    return (
        f"this sweep needs at least {least} job(s) (one task per group of chains, one per "
        f"aggregate, {retry} retry job) but {tightest.name} is {tightest.limit} with "
        f"{tightest.used} already {tightest.counted}: room for {room}. Wait for queued jobs to "
        "finish (squeue --me), submit fewer sets (--indices), or ask the site for a larger limit"
    )


# long: cut every group into tasks and arrays, then find each array's upstream arrays
def _requests(sg, groups, k, site, limits, demands, chain_minutes, asks) -> list[Request]:
    out: list[Request] = []
    max_time = limits.max_time(site.partition)[0]
    spans: list[list[int]] = []  # group -> indices of its requests
    size = limits.max_tasks_per_array
    group_tasks: list[list[list[list[NodeId]]]] = []
    for g in groups:
        if g.mirrors is not None:  # the same cut as the group it continues: tasks map 1:1
            upstream = group_tasks[g.mirrors]
            starts = [0]
            for task in upstream:
                starts.append(starts[-1] + len(task))
            tasks = [g.chains[starts[i] : starts[i + 1]] for i in range(len(upstream))]
        elif g.kind == ArrayKind.CHAINS:
            tasks = [g.chains[i : i + k] for i in range(0, len(g.chains), k)]
        else:
            tasks = [[c] for c in g.chains]
        group_tasks.append(tasks)
        spans.append([])
        for start in range(0, len(tasks), size):
            part = tasks[start : start + size]
            spans[-1].append(len(out))
            out.append(_request(sg, g, len(out), part, site, demands, chain_minutes, max_time,
                                asks))  # fmt: skip
    where: dict[NodeId, tuple[int, int]] = {}
    for r in out:
        for ti, task in enumerate(r.tasks):
            for nid in task:
                where[nid] = (r.index, ti)
    for gi, g in enumerate(groups):
        for pos, ri in enumerate(spans[gi]):
            r = out[ri]
            mirror = spans[g.mirrors][pos] if g.mirrors is not None else None
            ups: set[int] = set()
            for task in r.tasks:
                for nid in task:
                    for u in sg.graph.predecessors(nid):
                        if u in where and where[u][0] != r.index:
                            ups.add(where[u][0])
            r.after_corr = sorted(ups & {mirror}) if mirror is not None else []
            r.after_ok = sorted(ups - set(r.after_corr))
    if site.max_running:
        per_level: dict[int, int] = {}
        for r in out:
            per_level[r.level] = per_level.get(r.level, 0) + 1
        for r in out:
            r.throttle = max(1, int(site.max_running) // per_level[r.level])
    return out


# long: the time limit, then the options, then the request
def _request(sg, g: _Group, index, tasks, site, demands, chain_minutes, max_time, asks) -> Request:
    nodes = [sg.node(nid) for task in tasks for chain in task for nid in chain]
    asked = [asks.of(n) for n in nodes]
    mems = [a[1] for a in asked if a[1]]
    if demands.time_min:
        time_min = int(demands.time_min)
    else:
        longest = 0.0
        unknown = False
        for task in tasks:
            minutes, unknown_here = 0.0, False
            for chain in task:
                m, u = chain_minutes(chain)
                minutes += m
                unknown_here |= u
            longest = max(longest, minutes)
            unknown |= unknown_here
        time_min = math.ceil(longest) + STARTUP_MINUTES
        if unknown:  # a guess is no limit: the profile's runtime, within the partition's
            ceiling = max_time or demands.default_time_min
            time_min = max(time_min, min(demands.default_time_min, ceiling))
    options: dict[str, Any] = {}
    for stage in g.stages:
        for key, value in site.sbatch(stage).items():
            if options.get(key, value) != value:
                raise CfcompileError(
                    f"stages {', '.join(g.stages)} run in one task but ask for different "
                    f"{key}s ({options[key]!r}, {value!r}) in {site.source}; give them the "
                    "same one"
                )
            options[key] = value
    gpus = task_ask([node_gpu_ask(n, site, demands) for n in nodes])
    return Request(
        index=index,
        level=g.level,
        kind=g.kind,
        tasks=[[nid for chain in task for nid in chain] for task in tasks],
        stages=list(g.stages),
        time_min=time_min,
        mem_mb=max(mems) if mems else demands.default_mem_mb,  # as Snakemake's unit rule
        cpus=max(1, *(int(n.threads) for n in nodes)),
        gpus=gpus.gpus,
        options=options,
        gpu_model=gpus.model,
        cpus_per_gpu=gpus.cpus_per_gpu,
    )
