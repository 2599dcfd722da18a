"""``--status``: per stage and parameter set, done / queued / running / failed / not submitted."""

from __future__ import annotations

import os
from collections import Counter

from cfcompile.graph import StageGraph
from cfcompile.plan import CACHED, plan

SLURM_QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED", "RESIZING"}
SLURM_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT"}
SLURM_FAILED = {
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
}


def node_status(sg: StageGraph, workdir: str) -> dict[tuple[str, str], dict]:
    """Status per node: the cache decides "done"; the latest submission decides the rest."""
    from cfcompile.backends.submitit import load_submissions, slurm_states
    from cfcompile.limits import load_failure

    plans = plan(sg)
    latest: dict[tuple[str, str], dict] = {}
    slurm_ids: set[str] = set()
    for array in load_submissions(workdir):
        for task in array["tasks"]:
            for nid in task["nodes"]:
                latest[tuple(nid)] = {
                    **task,
                    "executor": array["executor"],
                    "array": array["array"],
                }
        if array["executor"] == "slurm":
            slurm_ids.add(array["array"])
    states = slurm_states(sorted(slurm_ids)) if slurm_ids else {}
    out = {}
    for node in sg.nodes():
        entry = {
            "stage": node.stage,
            "params": node.params_name or "(aggregate)",
            "hash": node.hash,
        }
        sub = latest.get(node.id)
        if plans[node.id].status == CACHED and not node.force:
            entry["status"] = "done"
        elif sub is None:
            failure = load_failure(workdir, node.stage, node.hash)
            if failure is None:
                entry["status"] = "not submitted"
            else:  # a Snakemake (or --eager-less local) run recorded why this node failed
                entry["status"] = "timed out" if failure["kind"] == "timeout" else "failed"
                entry["log"] = os.path.join(workdir, "logs", node.stage, f"{node.hash}.log")
        else:
            state = states.get(sub["job_id"], "UNKNOWN") if sub["executor"] == "slurm" else "LOCAL"
            entry["job_id"] = sub["job_id"]
            if state in SLURM_QUEUED:
                entry["status"] = "queued"
            elif state in SLURM_RUNNING:
                entry["status"] = "running"
            elif state.startswith("CANCELLED"):
                entry["status"] = "cancelled (upstream failed or scancel)"
            elif state in SLURM_FAILED or state == "COMPLETED" or state == "LOCAL":
                failure = load_failure(workdir, node.stage, node.hash)
                timed_out = state == "TIMEOUT" or (failure or {}).get("kind") == "timeout"
                entry["status"] = "timed out" if timed_out else "failed"
                entry["log"] = sub["log"]
            else:
                entry["status"] = f"unknown ({state})"
                entry["log"] = sub["log"]
        out[node.id] = entry
    return out


def format_status(statuses: dict) -> str:
    lines = []
    width = max((len(s["stage"]) for s in statuses.values()), default=5)
    pwidth = max((len(s["params"]) for s in statuses.values()), default=6)
    lines.append(f"{'stage':<{width}}  {'parameter set':<{pwidth}}  status")
    for s in statuses.values():
        line = f"{s['stage']:<{width}}  {s['params']:<{pwidth}}  {s['status']}"
        if s.get("job_id"):
            line += f"  [job {s['job_id']}]"
        if s.get("log"):
            line += f"  log: {s['log']}"
        lines.append(line)
    counts = Counter(s["status"] for s in statuses.values())
    lines.append("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)
