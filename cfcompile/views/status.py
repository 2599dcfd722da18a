"""``--status``: how far a workflow got, stage by stage, and what went wrong where.

The cache decides "done"; a backend's recorded jobs decide queued, running, failed or
cancelled; a failure record the job runtime wrote decides failed or timed out when no backend
knows the job (a Snakemake run). What no record says is read from the workflow folder: a node
downstream of a failure is blocked, and a node whose job started after the last compile (its
log is newer) but left neither its completion marker nor a failure record was stopped (Ctrl-C,
a kill) or is running now, which the run lock held by Snakemake tells apart. The log path
comes from the workdir's one rule, so a node that ran inside a multi-node unit points at the
unit's log.

The view is a table per stage, then one row per failure (at most ``MAX_ROWS`` unless only
failures are asked for), so that 50,000 nodes read as well as 7.
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from enum import StrEnum

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.core.ir import NodeId
from cfcompile.core.reuse_store import copy_mark
from cfcompile.core.workdir import (
    CURRENT,
    RUN_LOCK,
    TIMED_OUT,
    NodeStore,
    done_path,
    failure_label,
    failure_path,
    load_failure,
    log_path,
)


class NodeState(StrEnum):
    """A node's state in ``--status``; ``label`` is what the tables print."""

    DONE = "done"
    RUNNING = "running"
    QUEUED = "queued"
    FAILED = "failed"  # workdir.FailureKind.label: what a failure record is called
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    NOT_RUN = "not run"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return "cancelled (upstream failed or scancel)" if self is NodeState.CANCELLED else self


DONE, RUNNING, QUEUED = NodeState.DONE, NodeState.RUNNING, NodeState.QUEUED
CANCELLED, BLOCKED, INTERRUPTED = NodeState.CANCELLED, NodeState.BLOCKED, NodeState.INTERRUPTED
NOT_RUN, UNKNOWN = NodeState.NOT_RUN, NodeState.UNKNOWN
FAILURES = (NodeState.FAILED, NodeState.TIMED_OUT)
BLOCKING = (*FAILURES, CANCELLED, BLOCKED)
COLUMNS = [s for s in NodeState if s is not UNKNOWN]
"""Summary columns, in the order people read a run (anything else counts as "other")."""
MAX_ROWS = 50
"""Per-node rows shown per section before "... N more" (all with ``failed_only``)."""

INTERRUPTED_REASON = (
    "its job started after the last compile but left no output and no failure record "
    "(stopped by Ctrl-C or killed); the next run redoes it"
)


class _Folder:
    """One listing per folder (done markers, logs, failure records): a stat per node would be
    50,000 system calls on a shared filesystem."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, float]] = {}

    def mtime(self, path: str) -> float | None:
        folder, _, name = path.rpartition(os.sep)
        if folder not in self._seen:
            entries: dict[str, float] = {}
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        try:
                            entries[entry.name] = entry.stat().st_mtime
                        except OSError:
                            continue
            except OSError:
                pass
            self._seen[folder] = entries
        return self._seen[folder].get(name)


def run_in_progress(workdir: str) -> bool:
    """A Snakemake run of this workflow holds ``run.lock`` (Snakefile.j2) while it runs."""
    try:
        fd = os.open(os.path.join(workdir, RUN_LOCK), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def compiled_at(workdir: str) -> float:
    """When the workflow was last compiled: jobs started before it belong to older runs."""
    try:
        return os.stat(os.path.join(workdir, CURRENT)).st_mtime
    except OSError:
        return 0.0


def node_status(
    sg: StageGraph, plans: dict[NodeId, NodePlan], workdir: str, jobs: dict[NodeId, dict]
) -> dict[NodeId, dict]:
    """Status per node; ``jobs`` is what the backends know (``backend.states(workdir)``).

    Each entry has stage, params (the node's label), hash and status; failures add log and
    message, blocked nodes ``blocked_by`` (the failed node upstream), nodes that are not done
    a ``reason``. Nodes come in trace order, which is topological, so every predecessor's
    status is known when a node asks whether it is blocked.
    """
    unit_of = NodeStore.units_in(workdir)
    files = _Folder()
    running = run_in_progress(workdir)
    since = compiled_at(workdir)
    out: dict[NodeId, dict] = {}
    for node in sg.nodes():
        entry: dict = {"stage": node.stage, "params": node.label, "hash": node.hash}
        out[node.id] = entry
        if plans[node.id].status == Status.CACHED and not node.force:
            entry["status"] = DONE
            if node.outputs and files.mtime(copy_mark(node.targets()[0])) is not None:
                entry["reused"] = True  # a copy of another set's outputs (core.reuse)
            if (jobs.get(node.id) or {}).get("note"):  # done after a retry or a requeue
                entry["note"] = jobs[node.id]["note"]
            continue
        log = log_path(workdir, node.id, unit_of.get(node.id))
        has_record = files.mtime(failure_path(workdir, node.id)) is not None
        failure = load_failure(workdir, node.id) if has_record else None
        job = jobs.get(node.id)
        if job is not None:
            _from_job(entry, job, failure)
            continue
        if failure is not None:
            state = NodeState(failure_label(failure))
            entry.update(status=state, log=log, message=failure.get("message"))
            started = files.mtime(log)
            if running and started is not None and started > float(failure.get("end") or 0):
                entry["status"] = RUNNING  # its job started again after the failure
            continue
        upstream = _blocked_by(sg, node.id, out)
        if upstream is not None:
            entry.update(status=BLOCKED, blocked_by=upstream)
            up = out[upstream]
            entry["reason"] = f"upstream {up['stage']} [{up['params']}] {up['status']}"
            continue
        started = files.mtime(log)
        finished = files.mtime(done_path(workdir, node.id)) is not None
        if started is not None and started >= since and not finished:
            entry.update(status=RUNNING if running else INTERRUPTED, log=log)
            if not running:
                entry["reason"] = INTERRUPTED_REASON
            continue
        entry["status"] = QUEUED if running else NOT_RUN
        reason = plans[node.id].reason
        entry["reason"] = reason.text if reason else "not run yet"
    return out


def _from_job(entry: dict, job: dict, failure: dict | None) -> None:
    """What a backend's record of the job says (Slurm arrays, submitit's local executor)."""
    entry["job_id"] = job["job_id"]
    if job.get("note"):
        entry["note"] = job["note"]
    state = job["state"]
    if state in (QUEUED, RUNNING):
        entry["status"] = state
    elif state == "cancelled":
        entry["status"] = CANCELLED
        entry["log"] = job["log"]
    elif state in ("failed", "timed out", "done", "ended"):
        # a task that ended but left no outputs failed, whatever its exit state says
        timed_out = state == "timed out" or failure_label(failure) == TIMED_OUT
        entry["status"] = NodeState.TIMED_OUT if timed_out else NodeState.FAILED
        entry["log"] = job["log"]
    else:
        entry["status"] = UNKNOWN
        entry["slurm_state"] = job.get("slurm_state", state)
        entry["log"] = job["log"]
    if failure is not None:
        entry["message"] = failure.get("message")


def _blocked_by(sg: StageGraph, node_id: NodeId, known: dict[NodeId, dict]) -> NodeId | None:
    """The failed (or timed out, or cancelled) node upstream that keeps this one from running."""
    for up in sg.graph.predecessors(node_id):
        status = known[up]["status"]
        if status == BLOCKED:
            return known[up]["blocked_by"]
        if status in BLOCKING:
            return up
    return None


def exit_code(statuses: dict) -> int:
    """1 when a node failed or timed out: scripts and CI can test the status of a run."""
    return int(any(s["status"] in FAILURES for s in statuses.values()))


def last_line(message: str | None) -> str:
    """An exception's last line, which names it (``format_exception_only`` may add lines)."""
    lines = (message or "").strip().splitlines()
    return lines[-1] if lines else "(no message recorded)"


def print_status(
    statuses: dict,
    sg: StageGraph | None = None,
    failed_only: bool = False,
    all_nodes: bool = False,
) -> int:
    """Print the status; returns the exit code (``exit_code``).

    ``sg`` orders the stages as the experiment runs them (else: as the statuses come).

    Default: a table per stage, the totals, then one row per failed or timed-out node with its
    error and log (at most ``MAX_ROWS``), then interrupted nodes. ``failed_only``: every
    failure and nothing else. ``all_nodes``: one row per node, as a table.
    """
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(width=250, highlight=False, soft_wrap=True)
    failures = [s for s in statuses.values() if s["status"] in FAILURES]
    if not failed_only:
        _summary(console, statuses, sg)
        if all_nodes:
            _every_node(console, statuses)
    blocked = Counter(s["blocked_by"] for s in statuses.values() if "blocked_by" in s)
    limit = None if failed_only else MAX_ROWS
    if failures:
        console.print(f"\nfailed or timed out: {len(failures)} (stage, set, status, job, log)")
        rows = []
        for s in failures[:limit]:
            cells = [s["stage"], s["params"], label(s), s.get("job_id", "-"), s.get("log", "-")]
            details = [last_line(s.get("message"))]
            below = blocked.get((s["stage"], s["hash"]), 0)
            if below:
                details.append(f"blocks {below} downstream node(s)")
            rows.append((cells, details))
        _rows(console, rows)
        _more(console, len(failures), limit, "--status --failed lists them all")
    elif failed_only:
        console.print("no failed or timed-out nodes")
    if failed_only:
        return exit_code(statuses)
    interrupted = [s for s in statuses.values() if s["status"] == INTERRUPTED]
    if interrupted:
        console.print(f"\n{len(interrupted)} interrupted: {INTERRUPTED_REASON}")
        _rows(console, [([s["stage"], s["params"], s["log"]], []) for s in interrupted[:limit]])
        _more(console, len(interrupted), limit, "")
    noted = [s for s in statuses.values() if s.get("note")]
    if noted:
        console.print(f"\nretried or requeued: {len(noted)} node(s) (stage, set, status, what)")
        _rows(
            console, [([s["stage"], s["params"], label(s), s["note"]], []) for s in noted[:limit]]
        )
        _more(console, len(noted), limit, "")
    if blocked:
        console.print(
            f"\n{sum(blocked.values())} blocked: downstream of a failed, timed-out or cancelled "
            "node; they run once it is fixed"
        )
    return exit_code(statuses)


def _summary(console, statuses: dict, sg: StageGraph | None) -> None:
    """A rich table: one row per stage, a column per status that occurs, and the totals."""
    from rich.table import Table
    from rich.text import Text

    stages = sg.stages() if sg is not None else [s["stage"] for s in statuses.values()]
    per_stage: dict[str, Counter] = {stage: Counter() for stage in stages}
    for s in statuses.values():
        per_stage.setdefault(s["stage"], Counter())[_column(s["status"])] += 1
    present = {c for counts in per_stage.values() for c in counts}
    columns = [str(c) for c in (*COLUMNS, "other") if c in present or c == "done"]
    table = Table(box=None, pad_edge=False)
    table.add_column("stage")
    table.add_column("nodes", justify="right")
    for column in columns:
        table.add_column(column, justify="right")
    for stage, counts in per_stage.items():
        table.add_row(Text(stage), str(sum(counts.values())), *(str(counts[c]) for c in columns))
    console.print(table)
    counts = Counter(label(s) for s in statuses.values())
    console.print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    reused = Counter(s["stage"] for s in statuses.values() if s.get("reused"))
    if reused:
        each = ", ".join(f"{stage} {n}" for stage, n in reused.items())
        console.print(
            f"reused: {sum(reused.values())} done node(s) hold a copy of an equivalent set's "
            f"outputs ({each}); their metadata's reused_from names the source",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


def _column(status: NodeState) -> str:
    return str(status) if status in COLUMNS else "other"


def label(entry: dict) -> str:
    """How a node's state is printed: its label, and Slurm's own word for an unknown one."""
    state = NodeState(entry["status"])
    if state is UNKNOWN:
        return f"unknown ({entry.get('slurm_state')})"
    return state.label


def _every_node(console, statuses: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for col in ("stage", "parameter set", "status", "job", "log", "reason"):
        table.add_column(col)
    for s in statuses.values():
        cells = (s["stage"], s["params"], label(s), s.get("job_id", ""), s.get("log", ""))
        table.add_row(*(Text(str(c)) for c in cells), Text(s.get("reason", "")))
    console.print(table)


def _rows(console, rows: list[tuple[list[str], list[str]]]) -> None:
    """Aligned plain rows (no wrapping: a log path stays the last word of its line), each
    followed by its indented detail lines. Names are printed as text, never as markup."""
    if not rows:
        return
    widths = [max(len(str(cells[i])) for cells, _ in rows) for i in range(len(rows[0][0]) - 1)]
    for cells, details in rows:
        head = "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False))
        console.print(f"  {head}  {cells[-1]}", markup=False)
        for line in details:
            console.print(f"      {line}", markup=False)


def _more(console, total: int, limit: int | None, hint: str) -> None:
    if limit is not None and total > limit:
        console.print(f"  ... {total - limit} more" + (f" ({hint})" if hint else ""))
