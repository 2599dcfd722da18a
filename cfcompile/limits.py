"""Per-stage time limits and failure records, shared by the eager runner and the job runtime.

The limit is enforced in the process running the stage (SIGALRM), so it holds the same way on
a laptop, under Snakemake and inside a Slurm job; on Slurm the job's own time limit is set from
it too. A failure record (JSON beside the workflow) lets status and results say "timed out"
or "failed" for a node whose outputs are missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from cfcompile.publish import write_atomic


class StageTimeout(Exception):
    """Raised inside a stage that ran past its ``timeout``."""


def call_with_timeout(seconds: float | None, fn: Callable[[], Any], what: str) -> Any:
    if not seconds:
        return fn()

    def on_alarm(signum, frame):
        raise StageTimeout(f"{what} exceeded its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed_call(seconds: float | None, fn: Callable[[], Any], what: str) -> tuple[Any, dict]:
    """Run a stage body under its time limit; return its result and the metadata timing.

    The timing has wall-clock start/end/seconds and the CPU seconds of this process, which is
    what a results table and the benchmarks' ideal (stage CPU time / cores) need.
    """
    start, cpu = time.time(), time.process_time()
    result = call_with_timeout(seconds, fn, what)
    end = time.time()
    timing = {
        "start": start,
        "end": end,
        "seconds": round(end - start, 6),
        "cpu_seconds": round(time.process_time() - cpu, 6),
    }
    return result, timing


def failure_path(workdir: str, stage: str, h: str) -> str:
    return os.path.join(workdir, "failures", f"{stage}_{h}.json")


def record_failure(workdir: str, stage: str, h: str, exc: BaseException, start: float) -> None:
    path = failure_path(workdir, stage, h)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {
        "stage": stage,
        "hash": h,
        "kind": "timeout" if isinstance(exc, StageTimeout) else "error",
        "message": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        "start": start,
        "end": time.time(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
    write_atomic(path, json.dumps(data))


def clear_failure(workdir: str, stage: str, h: str) -> None:
    try:
        os.remove(failure_path(workdir, stage, h))
    except FileNotFoundError:
        pass


def load_failure(workdir: str, stage: str, h: str) -> dict | None:
    try:
        with open(failure_path(workdir, stage, h)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
