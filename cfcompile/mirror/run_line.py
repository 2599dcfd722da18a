"""The command line curifactory's ``experiment`` would have been given for a
``run_experiment`` call: the manager's ``run_line`` (in ``store.json``, reports and the
``reproduce`` line of a store_full run), flag for flag in curifactory's order."""

from __future__ import annotations

import os
from typing import Any

_REPEATED = (  # keyword, flag: one flag per list entry
    ("param_files", "-p"),
    ("param_set_names", "--names"),
    ("param_set_indices", "--indices"),
    ("stage_overwrites", "--overwrite-stage"),
)
_SWITCHES = (
    ("store_full", "--store-full"),
    ("dry", "--dry"),
    ("dry_cache", "--dry-cache"),
)
_LATE_SWITCHES = (
    ("lazy", "--lazy"),
    ("ignore_lazy", "--ignore-lazy"),
    ("no_dag", "--no-dag"),
    ("map_only", "--map"),
    ("hashes_only", "--hashes"),
    ("paths_only", "--paths"),
    ("print_params", "--print-params"),
    ("no_color", "--no-color"),
    ("quiet", "--quiet"),
    ("all_loggers", "--all-loggers"),
)


def run_line(experiment_name: str, given: dict[str, Any]) -> str:
    """``experiment NAME -p P ...`` from ``run_experiment``'s keywords (``given``)."""
    words = ["experiment", experiment_name]
    for key, flag in _REPEATED:
        for value in given.get(key) or []:
            words += [flag, str(value)]
    if given.get("cache_dir_override") is not None:
        words += ["--cache", str(given["cache_dir_override"])]
    if given.get("overwrite_override"):
        words.append("--overwrite")
    if given.get("parallel") is not None:
        words += ["--parallel", str(given["parallel"])]
    if given.get("parallel_mode"):
        words.append("--parallel-safe")
    for value in given.get("global_param_set_indices") or []:
        words += ["--global-indices", str(value)]
    words += [flag for key, flag in _SWITCHES if given.get(key)]
    if given.get("prefix") is not None:
        words += ["--prefix", str(given["prefix"])]
    words += [flag for key, flag in _LATE_SWITCHES[:2] if given.get(key)]
    if not given.get("report", True):
        words.append("--no-report")
    words += [flag for key, flag in _LATE_SWITCHES[2:] if given.get(key)]
    return " ".join(words)


def distributed_worker() -> bool:
    """Whether this process is a non-zero rank of a distributed run (``LOCAL_RANK``,
    ``NODE_RANK`` or ``RANK`` set and not 0): curifactory runs it in parallel mode, leaving the
    run store and run folder to rank 0."""
    return any(os.environ.get(name, "0") != "0" for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))
