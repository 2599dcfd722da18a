"""Backends: a compiled version turned into scheduler jobs. Peers behind one protocol
(``backends.protocol.Backend``): ``snakemake`` (a Snakefile, run locally or through the slurm
executor) and ``slurm`` (job arrays through submitit, submit and exit)."""

from __future__ import annotations

from cfcompile.backends import slurm, snakemake
from cfcompile.backends.protocol import Backend


def all_backends() -> list[Backend]:
    """Every backend, for views that merge what each knows about job states."""
    return [snakemake.BACKEND, slurm.BACKEND]
