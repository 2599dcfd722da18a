"""The Snakemake backend: a Snakefile with one wildcard rule per stage, run locally or on Slurm.

``emit`` writes the Snakefile and its manifest from the StageGraph and the job units;
``launch`` finds a profile and runs Snakemake on the written file. Snakemake keeps no job
records of its own that outlive a run, so this backend reports no job states: status reads the
cache and the failure records the job runtime writes.
"""

from __future__ import annotations

from cfcompile.backends.protocol import JobState, Launch, Prepared
from cfcompile.backends.snakemake.emit import write_snakefile
from cfcompile.backends.snakemake.launch import run_snakemake
from cfcompile.core.ir import NodeId


class SnakemakeBackend:
    name = "snakemake"

    def prepare(self, compiled: Prepared) -> None:
        write_snakefile(compiled.sg, compiled.workdir, compiled.version, compiled.units,
                        compiled.plans)  # fmt: skip

    def launch(self, compiled: Prepared, how: Launch) -> int:
        return run_snakemake(compiled.version, how.cwd, how.profile, how.cores, how.snakemake_args)

    def states(self, workdir: str) -> dict[NodeId, JobState]:
        """None: see the module docstring."""
        return {}


BACKEND = SnakemakeBackend()

__all__ = ["BACKEND", "SnakemakeBackend"]
