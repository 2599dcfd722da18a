"""Submit and exit: the StageGraph as Slurm job arrays through submitit.

Nodes that need to run are grouped into levels. Within a level, each parameter set's chain of
ordinary stages is one array task, and each aggregate is one task. Every level's arrays depend
on the arrays holding their upstream nodes with ``afterok`` and ``--kill-on-invalid-dep=yes``,
so a failed parameter set cancels exactly the arrays downstream of it and nothing stays pending
forever. There is one sbatch call per array, never more than the graph's stage waves.
"""

from __future__ import annotations

import re
import time
from typing import Any

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import Array, arrays
from cfcompile.compiler.plan import NodePlan
from cfcompile.compiler.version import compile_lock
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import save_submissions
from cfcompile.errors import CfcompileError
from cfcompile.runtime.job import run_task

SLURM_NAME = re.compile(r"[A-Za-z0-9_.,:+-]+")


def check_overrides(overrides: dict[str, Any]) -> None:
    """A partition or account goes into an sbatch script: plain names only."""
    for key in ("partition", "account"):
        value = overrides.get(key)
        if value and not SLURM_NAME.fullmatch(str(value)):
            raise CfcompileError(
                f"Slurm {key} {value!r} is not a plain name (letters, digits, . _ - , :); it "
                "goes into an sbatch script, where anything else could inject directives"
            )


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
    sg: StageGraph,
    plans: dict[NodeId, NodePlan],
    workdir: str,
    version: str,
    cluster: str = "slurm",
    overrides: dict | None = None,
    batch: int = 1,
) -> tuple[list[Array], list[tuple[list[NodeId], str]]]:
    """Submit every array (slurm: then return at once; local: run them level by level).

    Returns the arrays and, for the local executor, the tasks that failed with the last line
    of their error (Slurm reports failures later, through --status).
    """
    import submitit

    overrides = overrides or {}
    check_overrides(overrides)
    todo = arrays(sg, plans, batch)
    executor = submitit.AutoExecutor(folder=f"{workdir}/submitit/%j", cluster=cluster)
    failed_nodes: set[NodeId] = set()
    failures: list[tuple[list[NodeId], str]] = []
    record: list[dict] = []
    for arr in todo:
        params = executor_parameters(arr, overrides)
        if cluster == "slurm":
            extra = {"kill-on-invalid-dep": "yes"}
            deps = [todo[d].job_id for d in sorted(arr.depends)]
            if deps:
                extra["dependency"] = "afterok:" + ":".join(deps)
            params["slurm_additional_parameters"] = extra
            params["name"] = f"cf-{sg.info.experiment}-L{arr.level}-{arr.kind}"
        else:
            params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        executor.update_parameters(**params)
        tasks = arr.tasks
        if cluster != "slurm":  # local: skip tasks downstream of a failure
            tasks = [t for t in tasks if not _blocked(sg, t, failed_nodes)]
        jobs = executor.map_array(run_task, [version] * len(tasks), [list(t) for t in tasks])
        if not jobs:
            continue
        arr.job_id = str(jobs[0].job_id).split("_")[0]
        record.append(_submission(arr, cluster, jobs, tasks))
        if cluster != "slurm":
            for job, task in zip(jobs, tasks, strict=True):
                try:
                    job.result()
                except Exception as exc:  # noqa: BLE001 - reported to the caller and by status
                    failed_nodes.update(task)
                    lines = str(exc).strip().splitlines() or [type(exc).__name__]
                    failures.append((task, lines[-1]))
    with compile_lock(workdir):  # another compile or submit may be appending too
        save_submissions(workdir, record)
    return todo, failures


def _submission(arr: Array, cluster: str, jobs: list, tasks: list) -> dict:
    """What submissions.json keeps of one array: enough for --status to find every node."""
    return {
        "array": arr.job_id,
        "executor": cluster,
        "level": arr.level,
        "kind": arr.kind,
        "submitted": time.time(),
        "tasks": [
            {"job_id": str(j.job_id), "nodes": [list(n) for n in t], "log": str(j.paths.stderr)}
            for j, t in zip(jobs, tasks, strict=True)
        ],
    }


def _blocked(sg: StageGraph, task: list, failed: set) -> bool:
    if not failed:
        return False
    return any(f in sg.graph.ancestors(n) for n in task for f in failed)
