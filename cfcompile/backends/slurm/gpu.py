"""Typed GPU requests on Slurm: how many, of which type, with how many CPUs each.

A stage asks with ``resources={"gpu": 1, "gpu_model": "a100", "cpus_per_gpu": 8}`` (the
names of Snakemake's slurm executor), or ``cfcompile.yaml`` says it per stage
(``stages: {train: {partition: gpu, gpu: 1, gpu_model: a100, cpus_per_gpu: 8}}``; ``gpus``
is kept as another name for ``gpu``); the yaml wins over the stage. Both Slurm routes read
it: ``--submit slurm`` writes ``--gpus=a100:1 --cpus-per-gpu=8`` (sbatch refuses
``--cpus-per-gpu`` beside ``--cpus-per-task``, so a task gets one or the other), and
``--run --profile slurm`` hands the same names to the executor as resources.

Packing keeps GPU and CPU stages of one parameter set's chain in different tasks: a node
whose request differs from the node before it on its chain (GPUs, their type, CPUs per GPU,
the per-stage sbatch options such as a GPU partition) starts a new level, so a CPU stage
never holds a GPU while it runs and a GPU stage gets the partition it asks for. The next
level waits on the one before with ``aftercorr`` when its tasks continue it one to one.

Everything here ends up in an sbatch script, a security boundary: a type is a plain name
(letters, digits, ``_ . + -``), counts are whole numbers; anything else is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cfcompile.core.ir import Node
from cfcompile.errors import CfcompileError

MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
"""A GPU type as sites name them (a100, h100_80gb, rtx-a6000): no ``:`` ``,`` or blanks,
which would make ``--gpus=TYPE:N`` into something else."""


@dataclass(frozen=True)
class GpuAsk:
    """What one node asks of Slurm's GPUs."""

    gpus: int = 0
    model: str | None = None
    cpus_per_gpu: int | None = None

    def gpus_word(self) -> str:
        """``a100:2`` or ``2``: the value of ``--gpus``."""
        return f"{self.model}:{self.gpus}" if self.model else str(self.gpus)


def _count(where: str, key: str, value: Any, least: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise CfcompileError(f"{where}: {key} {value!r} must be a whole number")
    if value < least:
        raise CfcompileError(f"{where}: {key} must be {least} or more, not {value!r}")
    return int(value)


def _model(where: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not MODEL.fullmatch(value):
        raise CfcompileError(
            f"{where}: gpu_model {value!r} is not a GPU type name (letters, digits, _ . + -); "
            "it goes into an sbatch script, where anything else could inject directives"
        )
    return value


def normalise_stage(where: str, overrides: dict[str, Any]) -> None:
    """A ``cfcompile.yaml`` stage entry, in place: ``gpus`` becomes ``gpu`` (one name, the
    stage's), and the GPU keys are checked."""
    if "gpus" in overrides:
        value = overrides.pop("gpus")
        if overrides.get("gpu") not in (None, value):
            raise CfcompileError(f"{where}: gpu and gpus are one setting; give one of them")
        overrides["gpu"] = value
    _count(where, "gpu", overrides.get("gpu"), 0)
    _count(where, "cpus_per_gpu", overrides.get("cpus_per_gpu"), 1)
    _model(where, overrides.get("gpu_model"))


def check_declared(nodes: list[Node]) -> None:
    """The stages' own GPU resources, checked once per stage before anything is submitted."""
    seen: set[str] = set()
    for node in nodes:
        if node.stage in seen:
            continue
        seen.add(node.stage)
        where = f"stage {node.stage}, resources"
        _count(where, "gpu", node.resources.get("gpu"), 0)
        _count(where, "cpus_per_gpu", node.resources.get("cpus_per_gpu"), 1)
        _model(where, node.resources.get("gpu_model"))


def node_ask(node: Node, stage_settings: dict[str, Any], gpus_flag: int | None) -> GpuAsk:
    """A node's GPU request: ``--gpus`` on the command line, else the site's per-stage
    settings, else the stage's declaration. Type and CPUs per GPU only go with GPUs."""
    res = node.job_resources()
    where = f"stage {node.stage}"
    if gpus_flag is not None:
        gpus = int(gpus_flag)
    else:
        gpus = _count(where, "gpu", stage_settings.get("gpu", res.get("gpu")), 0) or 0
    if not gpus:
        return GpuAsk()
    model = _model(where, stage_settings.get("gpu_model") or res.get("gpu_model"))
    per = stage_settings.get("cpus_per_gpu") or res.get("cpus_per_gpu")
    return GpuAsk(gpus, model, _count(where, "cpus_per_gpu", per, 1))


def task_ask(asks: list[GpuAsk]) -> GpuAsk:
    """One task's request over its nodes (split_key keeps them alike; the largest count)."""
    gpu = [a for a in asks if a.gpus]
    if not gpu:
        return GpuAsk()
    return GpuAsk(max(a.gpus for a in gpu), gpu[0].model, gpu[0].cpus_per_gpu)


def sbatch_options(ask: GpuAsk, cpus: int) -> dict[str, Any]:
    """The GPU and CPU flags of one task: ``--gpus=[TYPE:]N`` and ``--cpus-per-gpu=C``, or
    ``--cpus-per-task=N`` alone (sbatch refuses the two CPU flags together)."""
    out: dict[str, Any] = {}
    if ask.gpus:
        out["gpus"] = ask.gpus_word()
    if ask.gpus and ask.cpus_per_gpu:
        out["cpus-per-gpu"] = ask.cpus_per_gpu
    else:
        out["cpus-per-task"] = cpus
    return out


def gpu_hours_requested(requests: list[Any]) -> dict[str, float]:
    """GPU-hours the submission asks for per stage: each task's GPUs times its time limit,
    shared over its nodes' stages (a task runs only GPU stages or only CPU stages)."""
    out: dict[str, float] = {}
    for r in requests:
        if not r.gpus:
            continue
        for task in r.tasks:
            share = r.gpus * r.time_min / 60 / max(1, len(task))
            for stage, _ in task:
                out[stage] = out.get(stage, 0.0) + share
    return out
