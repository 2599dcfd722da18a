"""``curifactory.experiment`` for cfcompile: ``run_experiment`` and ``python -m
cfcompile.experiment SCRIPT.py`` (public paths; the runner is
``cfcompile.mirror.experiment_runner``).

Every cfcompile process, jobs included, installs the ``curifactory.experiment`` alias, which
imports this module; the runner (project discovery, provenance) is loaded on first use only,
so a job never pays for it.
"""

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - the names __getattr__ hands out
    from cfcompile.mirror.experiment_runner import (
        UNSUPPORTED,
        IndexRangeError,
        LogFile,
        ParamFileNotFoundError,
        ParamSelectionError,
        main,
        run_experiment,
        run_script,
    )

__all__ = [
    "IndexRangeError",
    "LogFile",
    "ParamFileNotFoundError",
    "ParamSelectionError",
    "UNSUPPORTED",
    "main",
    "run_experiment",
    "run_script",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # lazy: the job runtime's import budget (see the module docstring)
    from cfcompile.mirror import experiment_runner

    return getattr(experiment_runner, name)


if __name__ == "__main__":  # pragma: no cover
    from cfcompile.mirror.experiment_runner import main  # lazy, as above

    sys.exit(main())
