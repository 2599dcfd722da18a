"""Running a written Snakefile: bundled profiles (local, slurm) and the snakemake command."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from importlib import resources as ilr

from cfcompile.core.workdir import SNAKEFILE
from cfcompile.errors import CfcompileError

BUNDLED = ("local", "slurm")


def resolve_profile(profile: str) -> str:
    """A profile directory, or the name of a bundled one (``local``, ``slurm``)."""
    if os.path.isdir(profile):
        return os.path.abspath(profile)
    if profile in BUNDLED:
        return str(ilr.files(__package__).joinpath("profiles", profile))
    raise CfcompileError(
        f"no Snakemake profile '{profile}': give a directory holding config.yaml, or one of "
        f"the bundled profiles {', '.join(BUNDLED)}"
    )


def profile_defaults(profile: str | None) -> dict:
    """slurm_partition / slurm_account / mem_mb / runtime from a profile's default-resources.

    ``--submit`` reads them too, so one profile describes a site for both Slurm routes.
    """
    if not profile:
        return {}
    import yaml  # compile-time only

    with open(os.path.join(resolve_profile(profile), "config.yaml")) as f:
        config = yaml.safe_load(f) or {}
    out = {}
    for item in config.get("default-resources", []) or []:
        key, _, value = str(item).partition("=")
        key = {"slurm_partition": "partition", "slurm_account": "account"}.get(key, key)
        out[key] = value.strip("'\"")
    return out


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
    return subprocess.call(cmd, cwd=cwd)
