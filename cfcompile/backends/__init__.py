"""Backends: the StageGraph turned into scheduler jobs. Peers behind one small protocol.

Each backend package exposes ``NAME`` and ``states(workdir) -> {node id: {"state", "job_id",
"log", ...}}`` (what views ask of a backend; they never read a backend's internals), plus its
own way to prepare and launch: ``snakemake.write_snakefile`` / ``snakemake.run_snakemake``, and
``submitit.submit``. Both group nodes into job units through ``cfcompile.compiler.grouping``.
"""

from __future__ import annotations

from types import ModuleType

from cfcompile.backends import snakemake, submitit


def all_backends() -> list[ModuleType]:
    """Every backend, for views that merge what each knows about job states."""
    return [snakemake, submitit]
