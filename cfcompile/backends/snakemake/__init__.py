"""The Snakemake backend: a Snakefile with one wildcard rule per stage, run locally or on Slurm.

``emit`` writes the Snakefile and its manifest from the StageGraph and the job units;
``launch`` finds a profile and runs Snakemake on the written file. Snakemake keeps no job
records of its own that outlive a run, so this backend reports no job states: status reads the
cache and the failure records the job runtime writes.
"""

from __future__ import annotations

from cfcompile.backends.snakemake.emit import write_snakefile
from cfcompile.backends.snakemake.launch import profile_defaults, resolve_profile, run_snakemake

NAME = "snakemake"


def states(workdir: str) -> dict:
    """Job states per node: none (see the module docstring)."""
    return {}


__all__ = [
    "NAME",
    "profile_defaults",
    "resolve_profile",
    "run_snakemake",
    "states",
    "write_snakefile",
]
