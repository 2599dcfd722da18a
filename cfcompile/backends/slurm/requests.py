"""What one sbatch array asks for, and what each node of it may take.

A stage's declared ``runtime`` is a limit, not an estimate; recorded wall times (the
metadata beside each output) are estimates, and become limits at SAFETY times their p95. A
stage that never ran is assumed to take ``first_stage_seconds`` for packing, and a task
holding one gets at least the profile's runtime, since a guess is no limit. Memory comes
from ``--mem-mb``, then ``--fit-resources``, then the site's per-stage override, the stage's
declaration and the profile's default, in that order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cfcompile.backends.slurm import gpu
from cfcompile.backends.slurm.gpu import GpuAsk
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import recorded_seconds
from cfcompile.core.ir import Node, NodeId

STARTUP_MINUTES = 2
"""Added to every task's time limit: Python's start, imports, reading inputs."""
SAFETY = 3
"""A recorded time is an estimate: a task may run this many times its recorded p95."""


class ArrayKind(StrEnum):
    """What an array's tasks run: parameter sets' chains of ordinary stages, or aggregates."""

    CHAINS = "chains"
    AGGREGATES = "aggregates"


@dataclass
class Request:
    """One sbatch call: an array of tasks with one resource request."""

    index: int
    level: int
    kind: ArrayKind
    tasks: list[list[NodeId]]
    stages: list[str]
    time_min: int
    mem_mb: int | None
    cpus: int
    gpus: int
    options: dict[str, Any] = field(default_factory=dict)  # account, partition, qos, extras
    after_ok: list[int] = field(default_factory=list)
    after_corr: list[int] = field(default_factory=list)
    throttle: int | None = None
    job_id: str | None = None
    gpu_model: str | None = None  # --gpus=MODEL:N
    cpus_per_gpu: int | None = None  # --cpus-per-gpu instead of --cpus-per-task

    @property
    def nodes(self) -> int:
        return sum(len(t) for t in self.tasks)

    def resources(self) -> dict[str, Any]:
        return {"time_min": self.time_min, "mem_mb": self.mem_mb, "cpus": self.cpus,
                "gpus": self.gpus, "gpu_model": self.gpu_model,
                "cpus_per_gpu": self.cpus_per_gpu}  # fmt: skip

    def gpu_ask(self) -> GpuAsk:
        return GpuAsk(self.gpus, self.gpu_model, self.cpus_per_gpu) if self.gpus else GpuAsk()


@dataclass
class Demands:
    """What the command line and the profile add to the stages' own declarations."""

    time_min: int | None = None  # --time: every task's limit
    mem_mb: int | None = None  # --mem-mb
    gpus: int | None = None  # --gpus
    default_time_min: int = 60  # the profile's runtime: a task with a stage of unknown length
    default_mem_mb: int | None = None  # the profile's mem_mb: a task none of whose stages declares
    fitted: dict[str, tuple[int, str]] = field(default_factory=dict)  # --fit-resources


class Estimates:
    """Seconds per stage: recorded means for packing, recorded p95s for limits."""

    def __init__(self, sg: StageGraph, stages: set[str], first_stage_seconds: float):
        self.samples = recorded_seconds(sg, stages)
        self.first = first_stage_seconds

    def mean(self, stage: str) -> float:
        values = self.samples.get(stage)
        return sum(values) / len(values) if values else self.first

    def p95(self, stage: str) -> float | None:
        values = sorted(self.samples.get(stage) or [])
        return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)] if values else None


def node_limit(node: Node, est: Estimates, site: SiteSettings, demands: Demands) -> float | None:
    """Minutes a node may take; None when nothing is known (never run, nothing declared)."""
    override = site.stages.get(node.stage, {}).get("runtime")
    recorded = est.p95(node.stage)
    if demands.fitted and recorded is not None:
        return max(SAFETY * recorded / 60, 0.5)
    if override:
        return float(override)
    declared = node.runtime_minutes()
    if declared is not None:
        return declared
    return None if recorded is None else max(SAFETY * recorded / 60, 0.1)


def node_memory(node: Node, site: SiteSettings, demands: Demands) -> int | None:
    if demands.mem_mb:
        return int(demands.mem_mb)
    if node.stage in demands.fitted:
        return demands.fitted[node.stage][0]
    override = site.stages.get(node.stage, {}).get("mem_mb")
    declared = node.job_resources().get("mem_mb")
    value = override or declared
    return int(value) if value else None  # none declared: the task takes the profile's


def node_gpus(node: Node, site: SiteSettings, demands: Demands) -> int:
    return node_gpu_ask(node, site, demands).gpus


def node_gpu_ask(node: Node, site: SiteSettings, demands: Demands) -> GpuAsk:
    """GPUs, their type and CPUs per GPU (``gpu.node_ask``)."""
    return gpu.node_ask(node, site.stages.get(node.stage, {}), demands.gpus)


class Asks:
    """What a node asks for (minutes, MB, GPUs), worked out once per kind of node: the 50,000
    nodes of one stage in a sweep ask alike, and packing asks for every one of them."""

    def __init__(self, est: Estimates, site: SiteSettings, demands: Demands):
        self.est, self.site, self.demands = est, site, demands
        self._memo: dict[tuple, tuple[float | None, int | None, int]] = {}

    def of(self, node: Node) -> tuple[float | None, int | None, int]:
        key = (node.stage, node.timeout, tuple(node.resources.items()))
        try:
            return self._memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable resource value: ask directly
            return self._work_out(node)
        found = self._memo[key] = self._work_out(node)
        return found

    def _work_out(self, node: Node) -> tuple[float | None, int | None, int]:
        return (
            node_limit(node, self.est, self.site, self.demands),
            node_memory(node, self.site, self.demands),
            node_gpus(node, self.site, self.demands),
        )
