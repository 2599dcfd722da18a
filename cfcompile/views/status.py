"""``--status``: per stage and parameter set, done / queued / running / failed / not submitted.

The cache decides "done"; a backend's recorded jobs decide queued, running, failed or
cancelled; a failure record the job runtime wrote decides failed or timed out when no backend
knows the job (a Snakemake run). The log path comes from the workdir's one rule, so a node that
ran inside a multi-node unit points at the unit's log.
"""

from __future__ import annotations

from collections import Counter

from cfcompile.graph import StageGraph
from cfcompile.ir import NodeId
from cfcompile.plan import CACHED, NodePlan
from cfcompile.workdir import NodeStore, failure_label, load_failure, log_path

CANCELLED = "cancelled (upstream failed or scancel)"


def node_status(
    sg: StageGraph, plans: dict[NodeId, NodePlan], workdir: str, jobs: dict[NodeId, dict]
) -> dict[NodeId, dict]:
    """Status per node; ``jobs`` is what the backends know (``backend.states(workdir)``)."""
    unit_of = NodeStore.units_in(workdir)
    out = {}
    for node in sg.nodes():
        entry = {"stage": node.stage, "params": node.params_name or "(aggregate)"}
        entry["hash"] = node.hash
        job = jobs.get(node.id)
        failure = load_failure(workdir, node.id)
        if plans[node.id].status == CACHED and not node.force:
            entry["status"] = "done"
        elif job is None:
            entry["status"] = failure_label(failure) or "not submitted"
            if failure is not None:
                entry["log"] = log_path(workdir, node.id, unit_of.get(node.id))
                entry["message"] = failure.get("message")
        else:
            entry["job_id"] = job["job_id"]
            state = job["state"]
            if state in ("queued", "running"):
                entry["status"] = state
            elif state == "cancelled":
                entry["status"] = CANCELLED
            elif state in ("failed", "timed out", "done", "ended"):
                # a task that ended but left no outputs failed, whatever its exit state says
                timed_out = state == "timed out" or failure_label(failure) == "timed out"
                entry["status"] = "timed out" if timed_out else "failed"
                entry["log"] = job["log"]
            else:
                entry["status"] = f"unknown ({job.get('slurm_state', state)})"
                entry["log"] = job["log"]
            if failure is not None:
                entry["message"] = failure.get("message")
        out[node.id] = entry
    return out


def print_status(statuses: dict) -> None:
    """A rich table, then totals (plain text when not on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=250)
    table = Table(box=None, pad_edge=False)
    for col in ("stage", "parameter set", "status", "job", "log"):
        table.add_column(col)
    for s in statuses.values():
        table.add_row(s["stage"], s["params"], s["status"], s.get("job_id", ""), s.get("log", ""))
    console.print(table)
    counts = Counter(s["status"] for s in statuses.values())
    console.print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
