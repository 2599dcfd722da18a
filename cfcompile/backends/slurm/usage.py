"""What each Slurm task used (sacct's MaxRSS, Elapsed, TotalCPU), kept and told per stage.

A task's usage is read once it has ended (``sacct -D``: requeued attempts included) and kept
in ``WORKFLOW/usage.json``, by the retry job at the end of a sweep and by ``--status`` or the
next compile for any task it has not recorded yet; it outlives sacct's own retention.

Slurm measures a task, and a packed task runs several stages one after another, so usage is
attributed to stages this way (docs/running.md says the same):

- **memory**: the task's peak (MaxRSS, the largest of its steps) counts for every stage it ran.
  That is an upper bound for each of them: the peak happened in one, and none needed more.
- **time**: each node's own wall time, from the metadata the job runtime writes beside its
  outputs; the task's Elapsed only where a node left none.
- **CPU**: the task's TotalCPU shared among its nodes in proportion to their wall times.
- **GPU-hours**: the GPUs the task was allocated (AllocTRES ``gres/gpu``) times its Elapsed,
  shared the same way; requested, its GPUs times its time limit. Slurm has no GPU
  utilisation without an NVML accounting plugin, so "used" means held, not busy.

``--fit-resources`` asks for the observed p95 memory with headroom (``fit``), and the packer
sizes time limits from recorded node times whatever the flag says.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from dataclasses import dataclass

from cfcompile.core.transaction import write_atomic

USAGE = "usage.json"
SACCT_TIMEOUT_S = 120
FIELDS = "JobID,State,Elapsed,TotalCPU,MaxRSS,ReqMem,Timelimit,AllocTRES"
ENDED = frozenset(
    {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL", "PREEMPTED",
     "BOOT_FAIL", "DEADLINE"}
)  # fmt: skip
HEADROOM = 1.5
"""--fit-resources asks for the p95 peak times this, and at least FLOOR_MB more than it."""
FLOOR_MB = 100
SAMPLE = 200
"""Tasks read per stage for the table and the fit: enough for a p95, cheap at 50,000 sets."""


# -- sacct text -> one record per task -------------------------------------------------------------
def mebibytes(text: str) -> float | None:
    """``73780K``, ``1.5G``, ``600M``, ``4000Mn`` (older Slurm, per node), ``0`` -> MB."""
    m = re.fullmatch(r"([\d.]+)([KMGTP]?)[nc]?", text.strip())
    if not m:
        return None
    scale = {"": 1 / 1024 / 1024, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}
    return float(m.group(1)) * scale[m.group(2)] if m.group(2) else float(m.group(1)) / 1048576


def seconds(text: str) -> float | None:
    """sacct durations: ``00:00:02``, ``1-02:03:04``, ``00:00.159`` (MM:SS.mmm), ``05:01``."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not m:
        return None
    days, hours, minutes, secs = m.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)


def parse_usage(text: str) -> dict[str, dict]:
    """Task id -> {"state", "elapsed_s", "cpu_s", "max_rss_mb", "req_mem_mb", "attempts"},
    from ``sacct -n -P -D -o JobID,State,Elapsed,TotalCPU,MaxRSS,ReqMem,Timelimit``.

    An allocation line (``12_3``) starts a record; its steps (``12_3.batch``, ``12_3.0``) add
    their MaxRSS. With ``-D`` an earlier attempt of a requeued task comes first: its state is
    kept in ``attempts`` and the last attempt is the record.
    """
    out: dict[str, dict] = {}
    current: dict | None = None
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < 7 or not cells[0]:
            continue
        jid, state, elapsed, cpu, rss, req_mem, limit = cells[:7]
        tres = cells[7] if len(cells) > 7 else ""
        base, dot, _step = jid.partition(".")
        if not dot:
            earlier = out.get(base)
            attempts = (earlier["attempts"] + [earlier["state"]]) if earlier else []
            current = out[base] = {
                "state": (state.split() or ["UNKNOWN"])[0],
                "elapsed_s": seconds(elapsed),
                "cpu_s": seconds(cpu),
                "max_rss_mb": None,
                "req_mem_mb": mebibytes(req_mem),
                "timelimit": limit,
                "attempts": attempts,
                "gpus": allocated_gpus(tres),
            }
        elif current is not None and out.get(base) is current:
            used = mebibytes(rss)
            if used is not None:
                current["max_rss_mb"] = max(current["max_rss_mb"] or 0.0, used)
    return out


def allocated_gpus(tres: str) -> int:
    """``billing=1,cpu=1,gres/gpu:fake=2,gres/gpu=2,mem=100M`` -> 2 (the untyped total)."""
    m = re.search(r"(?:^|,)gres/gpu=(\d+)", tres)
    return int(m.group(1)) if m else 0


def query(array_ids: list[str]) -> dict[str, dict]:
    """Usage of every task of these arrays that sacct knows ({} without sacct)."""
    if not array_ids:
        return {}
    cmd = ["sacct", "-n", "-P", "-D", "-j", ",".join(array_ids), "-o", FIELDS]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SACCT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return parse_usage(proc.stdout) if proc.returncode == 0 else {}


# -- usage.json ------------------------------------------------------------------------------------
def path(workdir: str) -> str:
    return os.path.join(workdir, USAGE)


def load(workdir: str) -> dict[str, dict]:
    try:
        with open(path(workdir)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record(workdir: str, submissions: list[dict]) -> dict[str, dict]:
    """Read and keep the usage of every ended Slurm task not kept yet; returns all kept."""
    kept = load(workdir)
    missing = {
        a["array"]
        for a in submissions
        if a.get("executor") == "slurm" and any(t["job_id"] not in kept for t in a["tasks"])
    }
    if not missing:
        return kept
    fresh = {k: v for k, v in query(sorted(missing)).items() if v["state"] in ENDED}
    if fresh:
        kept.update(fresh)
        write_atomic(path(workdir), json.dumps(kept, separators=(",", ":")))
    return kept


# -- per stage -------------------------------------------------------------------------------------
@dataclass
class StageUsage:
    stage: str
    tasks: int = 0
    mem_requested: float | None = None
    time_requested: float | None = None  # minutes, of a task that ran the stage
    rss: list[float] | None = None
    wall: list[float] | None = None  # per node, seconds
    cpu: list[float] | None = None  # per node, seconds
    gpu_h_requested: float = 0.0  # GPUs x time limit, shared over the task's nodes
    gpu_h_used: float = 0.0  # allocated GPUs x Elapsed, shared by the nodes' wall times

    def p(self, values: list[float] | None, q: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def by_stage(submissions: list[dict], kept: dict[str, dict], node_seconds) -> dict[str, StageUsage]:
    """Usage per stage over the ended tasks of ``submissions`` (latest first, SAMPLE tasks a
    stage); ``node_seconds(node_id)`` gives a node's recorded wall time or None."""
    out: dict[str, StageUsage] = {}
    for array in reversed(submissions):
        request = array.get("request") or {}
        for task in array["tasks"]:
            used = kept.get(task["job_id"])
            if not used or used["state"] != "COMPLETED":
                continue
            stages = {n[0] for n in task["nodes"]}
            if all(out.get(s) and out[s].tasks >= SAMPLE for s in stages):
                continue
            walls = [(tuple(n), node_seconds(tuple(n))) for n in task["nodes"]]
            total = sum(w for _, w in walls if w) or 0.0
            asked_gpu_h = (request.get("gpus") or 0) * (request.get("time_min") or 0) / 60
            held_gpu_h = (used.get("gpus") or 0) * (used["elapsed_s"] or 0) / 3600
            for stage in stages:
                u = out.setdefault(stage, StageUsage(stage, rss=[], wall=[], cpu=[]))
                if u.tasks >= SAMPLE:
                    continue
                u.tasks += 1
                u.mem_requested = _larger(u.mem_requested, request.get("mem_mb"))
                u.time_requested = _larger(u.time_requested, request.get("time_min"))
                if used["max_rss_mb"] is not None:
                    u.rss.append(used["max_rss_mb"])
                for nid, wall in walls:
                    if nid[0] != stage:
                        continue
                    if wall is None and used["elapsed_s"] is not None:
                        wall = used["elapsed_s"] / len(walls)
                    share = wall / total if wall is not None and total else 1 / len(walls)
                    u.gpu_h_requested += asked_gpu_h / len(walls)
                    u.gpu_h_used += held_gpu_h * share
                    if wall is not None:
                        u.wall.append(wall)
                        if used["cpu_s"] is not None and total:
                            u.cpu.append(used["cpu_s"] * wall / total)
    return out


def _larger(a: float | None, b: float | None) -> float | None:
    if b is None:
        return a
    return b if a is None else max(a, b)


def fit(usage: dict[str, StageUsage]) -> dict[str, tuple[int, str]]:
    """Stage -> (memory to ask for, MB; why), for each stage with a measured peak."""
    out = {}
    for stage, u in usage.items():
        p95 = u.p(u.rss, 0.95)
        if p95 is None:
            continue
        mem = int(50 * math.ceil(max(p95 * HEADROOM, p95 + FLOOR_MB) / 50))
        out[stage] = (
            mem,
            f"p95 MaxRSS {p95:.0f} MB over {len(u.rss)} task(s), x{HEADROOM} headroom "
            f"(at least +{FLOOR_MB} MB)",
        )
    return out


def rows(per_stage: dict[str, StageUsage]) -> list[dict]:
    """The usage table's rows (``views.usage_table``), stages in the order given."""
    out = []
    for stage, u in per_stage.items():
        out.append(
            {
                "stage": stage,
                "tasks": u.tasks,
                "mem_requested": u.mem_requested,
                "rss_p50": u.p(u.rss, 0.5),
                "rss_p95": u.p(u.rss, 0.95),
                "time_requested": u.time_requested,
                "wall_p50": u.p(u.wall, 0.5),
                "wall_p95": u.p(u.wall, 0.95),
                "cpu_p50": u.p(u.cpu, 0.5),
                "cpu_p95": u.p(u.cpu, 0.95),
                "gpu_h_requested": round(u.gpu_h_requested, 4),
                "gpu_h_used": round(u.gpu_h_used, 4),
            }
        )
    return out
