"""Running a written Snakefile: the snakemake command, with a profile and a logger."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys

from cfcompile.backends.profiles import resolve_profile
from cfcompile.core.workdir import SNAKEFILE

RICH_LOGGER = "snakemake_logger_plugin_rich"


def logger_args(extra: list[str], interactive: bool | None = None) -> list[str]:
    """``--logger rich`` (progress bars per stage) where a person watches a terminal.

    Only when snakemake-logger-plugin-rich is installed, stderr is a terminal (in a pipe or a
    log file its redrawn bars are noise, and the Snakefile's one line per job reads better),
    and the Snakemake arguments choose no logger of their own.
    """
    if interactive is None:
        interactive = sys.stderr.isatty()
    if not interactive or any(a == "--logger" or a.startswith("--logger=") for a in extra):
        return []
    return ["--logger", "rich"] if importlib.util.find_spec(RICH_LOGGER) else []


def snakemake_command(
    version: str,
    profile: str | None,
    cores: str | None,
    extra: list[str],
    interactive: bool | None = None,
) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", os.path.join(version, SNAKEFILE)]
    if profile:
        cmd += ["--profile", resolve_profile(profile)]
    if cores or not profile:
        cmd += ["--cores", str(cores or "all")]
    return cmd + logger_args(extra, interactive) + list(extra)


def run_snakemake(
    version: str, cwd: str, profile: str | None, cores: str | None, extra: list[str]
) -> int:
    """Run Snakemake on the compiled workflow; its exit status is the command's."""
    cmd = snakemake_command(version, profile, cores, extra)
    print(f"cfcompile: {' '.join(cmd)}", file=sys.stderr, flush=True)
    # the run's provenance names the command the researcher typed, and the Snakemake line
    command = f"{shlex.join(['cfcompile', *sys.argv[1:]])} (runs: {shlex.join(cmd)})"
    return subprocess.call(cmd, cwd=cwd, env={**os.environ, "CFCOMPILE_COMMAND": command})
