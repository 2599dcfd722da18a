"""The retry job: once every array of a submission has ended, resubmit what hit a limit, once.

Submitted with the arrays as one small job that waits for all of them (``afterany``), so it
runs on a compute node and nothing waits on the login node; it counts against the submit
limits, and the packer budgets for it. It keeps every task's usage (``usage.record``), then
resubmits each task that ended

- TIMEOUT with twice its time limit, OUT_OF_MEMORY with twice its memory,
- NODE_FAIL, PREEMPTED or BOOT_FAIL (which Slurm did not requeue itself) as it was,
- TIMEOUT with the same time when a node of it checkpoints (it resumes; a site where users
  may not ``scontrol requeue`` their tasks lands here),

together with the nodes downstream of them that were cancelled on their account (every
upstream node done or resubmitted too), each in an array of its own with the dependencies
between them kept. Nodes that finished are not rerun; a node that failed in its own code is
not retried (that needs a fix, not more time), nor is what depends on it. The resubmitted
arrays have no retry job of their own: once is the rule, and ``--status`` says it happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from cfcompile.backends.slurm import usage
from cfcompile.backends.slurm.arrays import make_executor, submit_slurm
from cfcompile.backends.slurm.requests import ArrayKind, Request
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.compiler.version import compile_lock
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import (
    NodeStore,
    WorkflowInfo,
    done_path,
    load_attempts,
    load_submissions,
    save_submissions,
)

RESUMES = "TIMEOUT (checkpointed)"
"""A task that ran out of time while a node of it checkpoints (a site where users may not
``scontrol requeue``): more time is not what it needs, its next attempt resumes."""
RETRIED = {
    "TIMEOUT": ("time", "twice the time"),
    "OUT_OF_MEMORY": ("mem", "twice the memory"),
    "NODE_FAIL": (None, "the same request (node failure)"),
    "PREEMPTED": (None, "the same request (preempted)"),
    "BOOT_FAIL": (None, "the same request (node failed to boot)"),
    RESUMES: (None, "the same time: it resumes from its checkpoint"),
}
RETRY_MINUTES = 30
"""The retry job's time limit: sacct, then one sbatch call per array it resubmits."""
SACCT_PATIENCE_S = 60
"""sacct may lag behind the end of a task for a few seconds: ask again this long at most."""


# long: one pass in dependency order, then one bucket per array and change
def plan_retry(
    arrays: list[dict],
    states: dict[str, dict],
    done: Callable[[NodeId], bool],
    upstream: Callable[[NodeId], Iterable[NodeId]],
    checkpointed: Callable[[NodeId], bool] = lambda nid: False,
) -> list[tuple[Request, dict]]:
    """The arrays to resubmit, each with what it retries (``retry_of``), from the records of
    one submission (in submission order), each task's sacct usage (``state``, ``req_mem_mb``)
    and whether a node is done."""
    again: set[NodeId] = set()
    why: dict[NodeId, str] = {}
    for a in arrays:
        for t in a["tasks"]:
            state = states.get(t["job_id"], {}).get("state", "UNKNOWN")
            if state in RETRIED:
                for n in map(tuple, t["nodes"]):
                    if not done(n):
                        again.add(n)
                        why[n] = state
    if not again:
        return []
    for a in arrays:  # in dependency order: what was cancelled because of a retried node
        for t in a["tasks"]:
            for n in map(tuple, t["nodes"]):
                if n in again or done(n):
                    continue
                ups = list(upstream(n))
                if any(u in again for u in ups) and all(u in again or done(u) for u in ups):
                    again.add(n)
    out: list[tuple[Request, dict]] = []
    holder: dict[NodeId, int] = {}
    for a in arrays:
        buckets: dict[str | None, list[list[NodeId]]] = {}
        for t in a["tasks"]:
            nodes = [n for n in map(tuple, t["nodes"]) if n in again]
            if nodes:
                state = states.get(t["job_id"], {}).get("state")
                if state == "TIMEOUT" and any(checkpointed(n) for n in nodes):
                    state = RESUMES
                buckets.setdefault(state if state in RETRIED else None, []).append(nodes)
        for state, tasks in buckets.items():
            req = dict(a.get("request") or {})
            change = RETRIED[state][0] if state else None
            before = dict(req)
            if change == "time":
                req["time_min"] = 2 * int(req.get("time_min") or 60)
            elif change == "mem":
                mems = [states.get(t["job_id"], {}).get("req_mem_mb") for t in a["tasks"]]
                base = req.get("mem_mb") or max((m for m in mems if m), default=1000)
                req["mem_mb"] = 2 * int(base)
            r = Request(
                index=len(out),
                level=a.get("level") or 0,
                kind=ArrayKind(a["kind"]),
                tasks=tasks,
                stages=list(a.get("stages") or []),
                time_min=int(req.get("time_min") or 60),
                mem_mb=req.get("mem_mb"),
                cpus=int(req.get("cpus") or 1),
                gpus=int(req.get("gpus") or 0),
                gpu_model=req.get("gpu_model"),
                cpus_per_gpu=req.get("cpus_per_gpu"),
                options=dict(a.get("options") or {}),
            )
            ups = {holder[u] for task in tasks for n in task for u in upstream(n) if u in holder}
            r.after_ok = sorted(ups)
            for task in tasks:
                for n in task:
                    holder[n] = r.index
            what = (
                f"after {state}, {RETRIED[state][1]}" if state else "downstream of a retried task"
            )
            if change == "time":
                what += f" ({before.get('time_min')} -> {req['time_min']} min)"
            elif change == "mem":
                what += f" ({before.get('mem_mb') or 'default'} -> {req['mem_mb']} MB)"
            out.append((r, {"array": a["array"], "state": state, "what": what}))
    return out


def run_retry(workdir: str, version: str, submission: str, site: SiteSettings) -> int:
    """The retry job's body (on a compute node): usage, then the resubmission. Returns how
    many arrays it submitted; its log (Slurm's stdout of the job) lists them."""
    records = load_submissions(workdir)
    mine = [a for a in records if a.get("submission") == submission and a.get("tasks")]
    wanted = {t["job_id"] for a in mine for t in a["tasks"]}
    deadline = time.time() + SACCT_PATIENCE_S
    kept = usage.record(workdir, records)
    while not wanted <= kept.keys() and time.time() < deadline:
        time.sleep(5)
        kept = usage.record(workdir, records)
    store = NodeStore(version)

    def done(nid: NodeId) -> bool:
        return os.path.exists(done_path(workdir, nid))

    def upstream(nid: NodeId) -> set[NodeId]:
        node = store.node(nid)
        return node.upstream() if node is not None else set()

    def checkpointed(nid: NodeId) -> bool:
        return load_attempts(workdir, nid) is not None

    planned = plan_retry(mine, kept, done, upstream, checkpointed)
    if not planned:
        print("cfcompile retry: nothing ran out of time or memory; nothing to resubmit")
        return 0
    experiment = WorkflowInfo.load(version).experiment
    submitted = submit_slurm(
        [r for r, _ in planned],
        workdir,
        version,
        experiment,
        site,
        retry_of={r.index: info for r, info in planned},
    )
    with compile_lock(workdir):
        save_submissions(workdir, submitted)
    for record, (_, info) in zip(submitted, planned, strict=True):
        print(f"cfcompile retry: {record['array']}: {len(record['tasks'])} task(s), {info['what']}")
    return len(submitted)


def submit_retry_job(
    workdir: str, version: str, experiment: str, site: SiteSettings, records: list[dict]
) -> dict:
    """Submit the retry job after the arrays of ``records`` (one submission); its record."""
    ids = [r["array"] for r in records]
    options = dict(site.sbatch())
    options.update({"dependency": "afterany:" + ":".join(ids), "kill-on-invalid-dep": "yes"})
    executor = make_executor(workdir, site, "slurm")
    executor.update_parameters(
        timeout_min=RETRY_MINUTES,
        cpus_per_task=1,
        slurm_mem="1000M",
        name=f"cf-{experiment}-retry",
        slurm_additional_parameters=options,
        slurm_use_srun=False,  # it calls sbatch itself: no job step around it
        slurm_setup=list(site.prologue) or None,
    )
    submission = records[0]["submission"]
    job = executor.submit(run_retry, workdir, version, submission, site)
    return {
        "array": str(job.job_id),
        "executor": "slurm",
        "kind": "retry job",
        "level": None,
        "submission": submission,
        "submitted": time.time(),
        "tasks": [],
        "log": str(job.paths.stdout),
    }
