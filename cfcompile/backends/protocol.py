"""The backend contract: what the driver asks of each scheduler, and what it hands over.

A backend turns a compiled version into scheduler jobs. ``prepare`` writes what its scheduler
reads (the Snakemake backend: the Snakefile and its manifest; the Slurm array backend needs
nothing beyond the version folder), ``launch`` starts or submits the jobs and returns the exit
status, ``states`` reports what the backend knows of each node's job for ``--status`` (views
never read a backend's own records). Both backends group nodes through
``compiler.grouping``, so ``--batch K`` means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import BatchChoice
from cfcompile.compiler.plan import NodePlan
from cfcompile.core.ir import Node, NodeId


@dataclass
class Prepared:
    """A compiled version, ready for a backend: the graph and its plan, the version folder the
    jobs read, the job units and the grouping that made them."""

    sg: StageGraph
    plans: dict[NodeId, NodePlan]
    workdir: str
    version: str
    units: dict[str, list[Node]]
    batch: BatchChoice


@dataclass
class Launch:
    """Where and how the jobs run, as the command line says it."""

    cwd: str  # the project root: Snakemake runs there
    profile: str | None = None
    cores: str | None = None
    snakemake_args: list[str] = field(default_factory=list)
    cluster: str = "slurm"  # the array backend: "slurm", or submitit's "local" executor
    site: Any = None  # slurm.site.SiteSettings: the site's settings, the command line's on top
    demands: Any = None  # slurm.requests.Demands: --time, --mem-mb, --gpus, profile defaults
    batch: int | str = "auto"  # --batch as given: on Slurm, packing decides what auto means
    fit: bool = False  # --fit-resources
    preview: bool = False  # --dry-run: print the sbatch requests, submit nothing


class JobState(TypedDict, total=False):
    """What a backend knows of one node's job. ``state``: queued, running, done, failed,
    timed out, cancelled, ended (a local task that finished) or unknown."""

    state: str
    job_id: str
    log: str
    executor: str
    slurm_state: str
    note: str  # retried or requeued: what --status says happened


class Backend(Protocol):
    name: str

    def prepare(self, compiled: Prepared) -> None:
        """Write what the scheduler reads, beside the version's node store (under the compile
        lock: two compiles of one workflow never interleave their writes)."""

    def launch(self, compiled: Prepared, how: Launch) -> int:
        """Run or submit the jobs; the exit status of the command."""

    def states(self, workdir: str) -> dict[NodeId, JobState]:
        """The state of each node's job, as far as this backend recorded one."""
