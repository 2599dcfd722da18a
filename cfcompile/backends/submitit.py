"""Submit and exit: the StageGraph as Slurm job arrays through submitit.

Nodes that need to run are grouped into levels. Within a level, each parameter set's chain of
ordinary stages is one array task, and each aggregate is one task. Every level's arrays depend
on the arrays holding their upstream nodes with ``afterok`` and ``--kill-on-invalid-dep=yes``,
so a failed parameter set cancels exactly the arrays downstream of it and nothing stays pending
forever. There is one sbatch call per array, never more than the graph's stage waves.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from cfcompile.graph import StageGraph
from cfcompile.plan import RUN, plan
from cfcompile.publish import write_atomic

SUBMISSIONS = "submissions.json"


@dataclass
class Array:
    level: int
    kind: str  # "chains" or "aggregates"
    tasks: list[list[tuple[str, str]]]
    depends: set[int] = field(default_factory=set)  # indices of upstream arrays
    job_id: str | None = None
    resources: dict = field(default_factory=dict)


def plan_arrays(sg: StageGraph, only_missing: bool = True) -> list[Array]:
    """Group the nodes to run into arrays, level by level, in dependency order."""
    plans = plan(sg)
    g = sg.graph
    todo = [n for n in sg.nodes() if not only_missing or plans[n.id].status == RUN]
    todo_ids = {n.id for n in todo}
    level: dict[tuple[str, str], int] = {}
    for node in todo:  # trace order is topological
        lv = 0
        for u in g.predecessors(node.id):
            if u not in todo_ids:
                continue
            up = sg.node(u)
            same_chain = (
                node.kind != "aggregate" and up.kind != "aggregate" and up.hash == node.hash
            )
            lv = max(lv, level[u] if same_chain else level[u] + 1)
        level[node.id] = lv
    arrays: dict[tuple[int, str], Array] = {}
    chains: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for node in todo:
        lv = level[node.id]
        if node.kind == "aggregate":
            arrays.setdefault((lv, "aggregates"), Array(lv, "aggregates", [])).tasks.append(
                [node.id]
            )
        else:
            chains.setdefault((lv, node.hash), []).append(node.id)
    for (lv, _), ids in chains.items():
        arrays.setdefault((lv, "chains"), Array(lv, "chains", [])).tasks.append(ids)
    ordered = [arrays[k] for k in sorted(arrays, key=lambda k: (k[0], k[1] != "chains"))]
    where: dict[tuple[str, str], int] = {}
    for i, arr in enumerate(ordered):
        for task in arr.tasks:
            for nid in task:
                where[nid] = i
        arr.resources = _array_resources(sg, arr)
    for i, arr in enumerate(ordered):
        for task in arr.tasks:
            for nid in task:
                for u in g.predecessors(nid):
                    if u in where and where[u] != i:
                        arr.depends.add(where[u])
    return ordered


def _array_resources(sg: StageGraph, arr: Array) -> dict:
    """Per task: the largest memory/CPUs/GPUs and the summed runtime of its nodes."""
    mem = cpus = gpus = runtime = 0
    for task in arr.tasks:
        nodes = [sg.node(n) for n in task]
        res = [n.job_resources() for n in nodes]
        mem = max(mem, *(int(r.get("mem_mb", 0)) for r in res))
        cpus = max(cpus, *(int(n.threads) for n in nodes))
        gpus = max(gpus, *(int(r.get("gpu", 0)) for r in res))
        runtime = max(runtime, sum(int(r.get("runtime", 0)) for r in res))
    return {"mem_mb": mem, "cpus": cpus, "gpus": gpus, "runtime": runtime}


def executor_parameters(arr: Array, overrides: dict[str, Any]) -> dict[str, Any]:
    """submitit parameters: decorator resources, then profile defaults, then the command line."""
    res = arr.resources
    params: dict[str, Any] = {
        "timeout_min": res["runtime"] or overrides.get("runtime") or 60,
        "cpus_per_task": max(1, res["cpus"]),
        "slurm_array_parallelism": len(arr.tasks),
    }
    mem = res["mem_mb"] or overrides.get("mem_mb")
    if mem:
        params["slurm_mem"] = f"{int(mem)}M"
    gpus = res["gpus"] or overrides.get("gpus")
    if gpus:
        params["slurm_gpus_per_node"] = int(gpus)
    for key in ("runtime", "mem_mb", "gpus"):
        if overrides.get(f"force_{key}") is not None:
            value = overrides[f"force_{key}"]
            if key == "runtime":
                params["timeout_min"] = int(value)
            elif key == "mem_mb":
                params["slurm_mem"] = f"{int(value)}M"
            else:
                params["slurm_gpus_per_node"] = int(value)
    if overrides.get("partition"):
        params["slurm_partition"] = overrides["partition"]
    if overrides.get("account"):
        params["slurm_account"] = overrides["account"]
    return params


def submit(
    sg: StageGraph, workdir: str, cluster: str = "slurm", overrides: dict | None = None
) -> list[Array]:
    """Submit every array (slurm: then return at once; local: run them level by level)."""
    import submitit

    from cfcompile.job import run_task

    overrides = overrides or {}
    arrays = plan_arrays(sg)
    folder = os.path.join(workdir, "submitit", "%j")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    failed_nodes: set[tuple[str, str]] = set()
    record: list[dict] = []
    for arr in arrays:
        params = executor_parameters(arr, overrides)
        if cluster == "slurm":
            extra = {"kill-on-invalid-dep": "yes"}
            deps = [arrays[d].job_id for d in sorted(arr.depends)]
            if deps:
                extra["dependency"] = "afterok:" + ":".join(deps)
            params["slurm_additional_parameters"] = extra
            params["name"] = f"cf-{sg.info.get('experiment', 'x')}-L{arr.level}-{arr.kind}"
        else:
            params.pop("slurm_array_parallelism", None)
            params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        executor.update_parameters(**params)
        tasks = arr.tasks
        if cluster != "slurm":  # local: skip tasks downstream of a failure
            tasks = [t for t in tasks if not _blocked(sg, t, failed_nodes)]
        jobs = executor.map_array(run_task, [workdir] * len(tasks), [list(t) for t in tasks])
        if not jobs:
            continue
        arr.job_id = str(jobs[0].job_id).split("_")[0]
        record.append(
            {
                "array": arr.job_id,
                "executor": cluster,
                "level": arr.level,
                "kind": arr.kind,
                "submitted": time.time(),
                "tasks": [
                    {
                        "job_id": str(j.job_id),
                        "nodes": [list(n) for n in t],
                        "log": str(j.paths.stderr),
                    }
                    for j, t in zip(jobs, tasks, strict=True)
                ],
            }
        )
        if cluster != "slurm":
            for job, task in zip(jobs, tasks, strict=True):
                try:
                    job.result()
                except Exception:  # noqa: BLE001 - the failure is reported by status
                    failed_nodes.update(task)
    save_submissions(workdir, record)
    return arrays


def _blocked(sg: StageGraph, task: list, failed: set) -> bool:
    if not failed:
        return False
    import networkx as nx

    return any(f in nx.ancestors(sg.graph, n) for n in task for f in failed)


def save_submissions(workdir: str, arrays: list[dict]) -> None:
    path = os.path.join(workdir, SUBMISSIONS)
    old = load_submissions(workdir)
    write_atomic(path, json.dumps(old + arrays, indent=1))


def load_submissions(workdir: str) -> list[dict]:
    path = os.path.join(workdir, SUBMISSIONS)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """State per array task id (``123_4``), from sacct, else squeue."""
    if not job_ids:
        return {}
    states: dict[str, str] = {}
    try:
        out = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "-o", "JobID,State"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = out.stdout.splitlines() if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        lines = []
    for line in lines:
        jid, _, state = line.partition("|")
        for one in _expand(jid):
            states[one] = state.split()[0] if state else "UNKNOWN"
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        for line in out.stdout.splitlines() if out.returncode == 0 else []:
            jid, _, state = line.partition("|")
            states.setdefault(jid.strip(), state.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return states


def _expand(jid: str) -> list[str]:
    """``12_[0-2,5%4]`` -> 12_0 12_1 12_2 12_5 (sacct folds pending array tasks)."""
    if "_[" not in jid:
        return [jid.strip()]
    base, _, rest = jid.partition("_[")
    rest = rest.rstrip("]").split("%")[0]
    out = []
    for part in rest.split(","):
        lo, _, hi = part.partition("-")
        for i in range(int(lo), int(hi or lo) + 1):
            out.append(f"{base}_{i}")
    return out
