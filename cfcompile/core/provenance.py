"""Where and from what code a result came: recorded into metadata, results and reports."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time

from cfcompile.release import __version__


def git_info(root: str) -> dict:
    """Commit and dirty flag of the repository holding ``root`` (None outside git)."""

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status)}


def run_info(root: str, experiment: str, command: list[str] | None = None) -> dict:
    info = {
        "experiment_name": experiment,
        "hostname": socket.gethostname(),
        "user": os.environ.get("USER") or os.environ.get("LOGNAME"),
        "python": platform.python_version(),
        "cfcompile_version": __version__,
        "cli": " ".join(command if command is not None else sys.argv),
    }
    info.update(git_info(root))
    return info


RUNS = "runs.jsonl"
"""Each run of a workflow folder: one line when it starts, one when it ends (append-only)."""


def _append(workdir: str, entry: dict) -> None:
    os.makedirs(workdir, exist_ok=True)
    line = json.dumps(entry, default=str) + "\n"
    with open(os.path.join(workdir, RUNS), "a") as f:  # one short write: lines never interleave
        f.write(line)


def start_run(workdir: str, version: str | None, command: str, root: str) -> str:
    """Record that a run started (the Snakemake line, or cfcompile's --run / --submit);
    returns its id, which ``end_run`` names."""
    run_id = f"{time.time():.6f}-{os.getpid()}"
    entry = {
        "event": "start",
        "run": run_id,
        "command": command,
        "start": time.time(),
        "version": os.path.basename(version.rstrip("/")) if version else None,
        "host": socket.gethostname(),
        "user": os.environ.get("USER") or os.environ.get("LOGNAME"),
        "python": platform.python_version(),
        "cfcompile": __version__,
    }
    entry.update(git_info(root))
    _append(workdir, entry)
    return run_id


def end_run(workdir: str, run_id: str, outcome: str) -> None:
    _append(workdir, {"event": "end", "run": run_id, "end": time.time(), "outcome": outcome})


def last_run(workdir: str) -> dict | None:
    """The latest run's start line merged with its end line (no ``end``: still running, or
    killed before it could say; a submission ends when Slurm's jobs do)."""
    runs: dict[str, dict] = {}
    order: list[str] = []
    try:
        with open(os.path.join(workdir, RUNS)) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a full disk: the others still count
                run = str(entry.get("run"))
                if entry.get("event") == "start":
                    runs[run] = dict(entry)
                    order.append(run)
                elif run in runs:
                    runs[run].update(entry)
    except OSError:
        return None
    return runs[order[-1]] if order else None
