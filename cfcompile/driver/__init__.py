"""The pipeline from a typed selection to a compiled version, and runs of it, without the
command line: what a notebook or a script calls (``docs/driver.md``).

``Selection`` says what to compile; ``build`` selects, traces, graphs and plans it once;
``prepare`` writes the version folder and a backend's files; ``compile_workflow``,
``dry_run``, ``run`` and ``run_eager`` are the command line's modes as functions.
"""

from cfcompile.driver.api import compile_workflow, dry_run, run, run_eager
from cfcompile.driver.pipeline import Built, build, prepare
from cfcompile.driver.selection import ReuseMode, Selection

__all__ = [
    "Built",
    "ReuseMode",
    "Selection",
    "build",
    "compile_workflow",
    "dry_run",
    "prepare",
    "run",
    "run_eager",
]
