"""cfcompile: curifactory-style experiments, compiled to Snakemake workflows and Slurm arrays.

``import cfcompile as cf`` gives the experiment API (the same names curifactory has).
"""

from cfcompile.release import as_program as _as_program

_as_program()  # first: before anything imports the standard library's random (tempfile does)

from cfcompile import stages as _stages  # noqa: E402
from cfcompile.caching import Lazy  # noqa: E402
from cfcompile.core.checkpoint import checkpoint  # noqa: E402
from cfcompile.params import ExperimentParameters, set_hash_functions  # noqa: E402
from cfcompile.procedure import Procedure  # noqa: E402
from cfcompile.record import ArtifactManager, Record  # noqa: E402
from cfcompile.release import __version__  # noqa: E402
from cfcompile.runtime import eager as _eager  # noqa: E402
from cfcompile.stages import (  # noqa: E402
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
    "checkpoint",
    "set_hash_functions",
    "stage",
    "__version__",
]
