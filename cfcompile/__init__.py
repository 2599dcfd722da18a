"""cfcompile: curifactory-style experiments, compiled to Snakemake workflows and Slurm arrays.

``import cfcompile as cf`` gives the experiment API (the same names curifactory has).
"""

from cfcompile import stages as _stages
from cfcompile.caching import Lazy
from cfcompile.params import ExperimentParameters, set_hash_functions
from cfcompile.procedure import Procedure
from cfcompile.record import ArtifactManager, Record
from cfcompile.release import __version__
from cfcompile.runtime import eager as _eager
from cfcompile.stages import (
    CachersMismatchError,
    EmptyCachersError,
    InputSignatureError,
    OutputSignatureError,
    aggregate,
    stage,
)

_stages.register_engines(eager=_eager.EagerEngine, dry=_eager.DryEagerEngine)

__all__ = [
    "ArtifactManager",
    "CachersMismatchError",
    "EmptyCachersError",
    "ExperimentParameters",
    "InputSignatureError",
    "Lazy",
    "OutputSignatureError",
    "Procedure",
    "Record",
    "aggregate",
    "set_hash_functions",
    "stage",
    "__version__",
]
