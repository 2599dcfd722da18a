"""A Slurm site's settings, beside the profile: ``cluster_profiles/slurm/cfcompile.yaml``.

Snakemake refuses keys it does not know in a profile's ``config.yaml``, so what cfcompile
needs to know about a site (account, partition, QOS, constraint, reservation, more sbatch
flags, per-stage overrides, where Slurm's logs go, a prologue that prepares the compute
node's environment, how long a task should run, how often long stages checkpoint) lives in
a file of its own in the same folder. Both Slurm routes read it: ``--submit slurm`` (the
array backend) and ``--run --profile slurm`` (Snakemake's slurm executor). Command-line
flags win over the file.

Everything here ends up in an sbatch script or on its command line, so every value is
checked: names are plain names, a constraint a feature expression, extra flags ``--flag`` or
``--flag=value`` of plain characters and none that cfcompile sets itself, prologue lines
single lines that are not ``#SBATCH`` directives. A bad value is refused naming the file and
the key, before anything is compiled or submitted.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from cfcompile import cluster_profiles
from cfcompile.backends.slurm import gpu
from cfcompile.errors import CfcompileError

SETTINGS_FILE = "cfcompile.yaml"

NAME = re.compile(r"[A-Za-z0-9_.,:+-]+")
FEATURES = re.compile(r"[A-Za-z0-9_.,:+&|()\[\]*-]+")
PYTHON = re.compile(r"[A-Za-z0-9_./+-]+")
FLAG = re.compile(r"--[a-z][a-z0-9-]*(=[A-Za-z0-9_.,:/@%+=-]+)?")
MANAGED = {  # flags cfcompile writes itself: a second one would contradict it
    "account", "partition", "qos", "constraint", "reservation", "time", "mem", "mem-per-cpu",
    "gres", "gpus", "gpus-per-node", "cpus-per-task", "array", "dependency", "job-name",
    "output", "error", "kill-on-invalid-dep", "requeue", "no-requeue", "wrap", "chdir",
    "signal", "cpus-per-gpu", "gpus-per-task", "gres-flags",
}  # fmt: skip
STAGE_KEYS = {"account", "partition", "qos", "constraint", "reservation", "mem_mb", "runtime",
              "gpu", "gpus", "gpu_model", "cpus_per_gpu"}  # fmt: skip  # gpus: gpu's old name


@dataclass
class SiteSettings:
    """What ``cfcompile.yaml`` says; empty values leave the choice to Slurm's defaults."""

    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    constraint: str | None = None
    reservation: str | None = None
    sbatch_extra: list[str] = field(default_factory=list)
    log_dir: str | None = None
    prologue: list[str] = field(default_factory=list)
    max_running: int | None = None
    target_task_minutes: float = 10.0
    first_stage_seconds: float = 60.0
    python: str | None = None
    retry: bool = True
    checkpoint_every_seconds: float = 60.0
    checkpoint_signal_seconds: float = 120.0
    checkpoint_max_requeues: int = 20
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "(defaults)"

    def with_flags(self, **flags: Any) -> SiteSettings:
        """These settings with the command line's non-empty values on top, checked again."""
        given = {k: v for k, v in flags.items() if v is not None}
        SiteSettings(**given, source="the command line").check()  # name where it came from
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(given)
        out = SiteSettings(**values)
        out.check()
        return out

    def interpreter(self, default: str) -> str:
        """The Python a job runs: ``python`` as set; else, with a prologue (which usually
        activates an environment), ``python3`` from the PATH it makes; else ``default``, the
        submitting interpreter's own path."""
        if self.python:
            return self.python
        return "python3" if self.prologue else default

    def sbatch(self, stage: str | None = None) -> dict[str, Any]:
        """sbatch options (``{"qos": "long", "exclusive": True}``) for a task, with the
        overrides of ``stage`` on top (partition, account, qos, constraint, reservation)."""
        out: dict[str, Any] = {}
        for key in ("account", "partition", "qos", "constraint", "reservation"):
            value = (self.stages.get(stage, {}) if stage else {}).get(key) or getattr(self, key)
            if value:
                out[key] = value
        for flag in self.sbatch_extra:
            key, eq, value = flag[2:].partition("=")
            out[key] = value if eq else True
        return out

    def check(self) -> None:
        """Refuse anything that could become more than one sbatch option or directive."""
        where = f"{self.source}"
        for key in ("account", "partition", "qos", "reservation"):
            _check(
                where, key, getattr(self, key), NAME, "a plain name (letters, digits, . _ - , :)"
            )
        _check(where, "constraint", self.constraint, FEATURES, "a feature expression")
        for flag in self.sbatch_extra:
            _check(where, "sbatch_extra", flag, FLAG, "--flag or --flag=value of plain characters")
            if flag[2:].partition("=")[0] in MANAGED:
                raise CfcompileError(
                    f"{where}: sbatch_extra {flag!r} sets what cfcompile sets itself; use the "
                    "key of its own (account, partition, qos, constraint, reservation) or the "
                    "stage's resources"
                )
        for line in self.prologue:
            if not isinstance(line, str) or any(ch in line for ch in "\n\r\0"):
                raise CfcompileError(f"{where}: prologue lines must be single lines: {line!r}")
            if line.strip().upper().startswith("#SBATCH"):
                raise CfcompileError(f"{where}: a prologue line may not be an #SBATCH directive")
        if self.log_dir is not None and any(ord(c) < 32 for c in str(self.log_dir)):
            raise CfcompileError(f"{where}: log_dir {self.log_dir!r} holds a control character")
        if self.max_running is not None and int(self.max_running) < 1:
            raise CfcompileError(f"{where}: max_running must be 1 or more")
        for key in ("target_task_minutes", "first_stage_seconds", "checkpoint_every_seconds",
                    "checkpoint_signal_seconds"):  # fmt: skip
            value = getattr(self, key)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise CfcompileError(f"{where}: {key} must be a number above 0, not {value!r}")
        n = self.checkpoint_max_requeues
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise CfcompileError(f"{where}: checkpoint_max_requeues must be 0 or more, not {n!r}")
        if self.python is not None and not PYTHON.fullmatch(str(self.python)):
            raise CfcompileError(
                f"{where}: python {self.python!r} must be a command name or a path (letters, "
                "digits, / . _ - +); it is the first word of every job's command"
            )
        for stage, overrides in self.stages.items():
            unknown = set(overrides) - STAGE_KEYS
            if unknown:
                raise CfcompileError(
                    f"{where}: stages.{stage} has unknown keys {sorted(unknown)}; known: "
                    f"{sorted(STAGE_KEYS)}"
                )
            for key in ("account", "partition", "qos", "reservation"):
                _check(where, f"stages.{stage}.{key}", overrides.get(key), NAME, "a plain name")
            _check(where, f"stages.{stage}.constraint", overrides.get("constraint"), FEATURES,
                   "a feature expression")  # fmt: skip
            gpu.normalise_stage(f"{where}: stages.{stage}", overrides)


def _check(where: str, key: str, value: Any, pattern: re.Pattern, what: str) -> None:
    if value is None or value == "":
        return
    if not isinstance(value, str | int) or not pattern.fullmatch(str(value)):
        raise CfcompileError(
            f"{where}: {key} {value!r} is not {what}; it goes into an sbatch script, where "
            "anything else could inject directives"
        )


def settings_path(profile_dir: str) -> str:
    return os.path.join(profile_dir, SETTINGS_FILE)


def load(profile_dir: str | None) -> SiteSettings:
    """The settings beside a profile (or the bundled slurm profile's, all empty)."""
    folder = profile_dir or cluster_profiles.folder("slurm")
    path = settings_path(folder)
    if not os.path.exists(path):
        return SiteSettings()
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise CfcompileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CfcompileError(f"{path}: expected key: value settings, got {type(data).__name__}")
    known = {f.name for f in fields(SiteSettings)} - {"source"}
    unknown = set(data) - known
    if unknown:
        raise CfcompileError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
    values = {k: v for k, v in data.items() if v is not None}
    for key in ("sbatch_extra", "prologue"):
        if isinstance(values.get(key), str):
            values[key] = [values[key]]
    settings = SiteSettings(**values, source=path)
    settings.check()
    return settings


def init_profiles(target: str) -> list[str]:
    """Copy the bundled profiles into ``target/cluster_profiles/`` (what a pip-installed
    cfcompile has no checkout for); refuses to overwrite a profile that is there."""
    root = os.path.join(target, "cluster_profiles")
    written = []
    for name in cluster_profiles.BUNDLED:
        dest = os.path.join(root, name)
        if os.path.exists(dest):
            raise CfcompileError(f"{dest} exists already: edit it, or remove it to start over")
    for name in cluster_profiles.BUNDLED:
        dest = os.path.join(root, name)
        shutil.copytree(cluster_profiles.folder(name), dest)
        written.append(dest)
    return written
