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
OUR_LOGGER = "snakemake_logger_plugin_cfcompile"


def logger_args(extra: list[str], interactive: bool | None = None) -> list[str]:
    """``--logger cfcompile`` (a line per stage: done out of planned, the sets running, the
    time left) when plugins/snakemake-logger-plugin-cfcompile is installed, as the README's
    commands do; it reads well in a log file too. Without it, ``--logger rich`` where a person
    watches a terminal (in a pipe its redrawn bars are noise). Never when the Snakemake
    arguments choose a logger of their own.
    """
    if any(a == "--logger" or a.startswith("--logger=") for a in extra):
        return []
    if importlib.util.find_spec(OUR_LOGGER):
        return ["--logger", "cfcompile"]
    if interactive is None:
        interactive = sys.stderr.isatty()
    if not interactive:
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
