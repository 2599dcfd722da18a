"""Where and from what code a result came: recorded into metadata, results and reports."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys

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
