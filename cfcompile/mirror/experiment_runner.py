"""The eager runner behind ``curifactory.experiment``: ``run_experiment`` and manual scripts.

``run_experiment("iris", ["base"])`` runs an experiment eagerly in this process and returns
``(results, manager)``, like curifactory 0.20.5's: the same keywords, the same parameter-set
selection rules (``param_set_indices`` are per parameter file, ``"3-7"`` excludes 7), the same
cache files, and an exception in ``run()`` logged and reported as ``manager.status == "error"``
and ``results is None`` rather than raised. What cfcompile has no counterpart for is refused by
name with the alternative (``map_only`` is ``cfcompile EXP -p P --dag``, ...).

``python -m cfcompile.experiment SCRIPT.py [ARGS]`` runs a script that builds its own
``ArtifactManager`` (curifactory's ``examples/experiments/manual.py``) with ``import
curifactory`` meaning cfcompile, as ``python SCRIPT.py`` would run it under curifactory.

The public path is ``cfcompile.experiment`` (aliased as ``curifactory.experiment``), which
loads this module on first use: jobs install that alias and must not pay for project
discovery they never use.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import traceback
from typing import Any

from cfcompile import compat
from cfcompile.core.provenance import run_info
from cfcompile.errors import CfcompileError, ParamsError, ProjectError
from cfcompile.hashing import params_hash
from cfcompile.mirror.run_line import distributed_worker, run_line
from cfcompile.project.discover import EXPERIMENTS, PARAMS, Project, checked_selection
from cfcompile.record import ArtifactManager
from cfcompile.runs import manager_preset

log = logging.getLogger("cfcompile")


class ParamFileNotFoundError(ProjectError, ModuleNotFoundError):
    """A parameter file named in ``param_files`` exists in neither folder (curifactory raises
    ModuleNotFoundError there, so ``except ModuleNotFoundError`` keeps working)."""


class ParamSelectionError(ParamsError, RuntimeError):
    """No parameter set to run, or a requested name matched none (curifactory's RuntimeError)."""


class IndexRangeError(ParamsError, ValueError):
    """An index range that is not ``N`` or ``N-M`` (curifactory's ``int()`` raises ValueError)."""


UNSUPPORTED = {
    "build_docker": "cfcompile builds no docker images",
    "build_notebook": "cfcompile writes no run notebooks",
    "map_only": "the stage map is `cfcompile EXP -p P --dag` (or --dry-run)",
    "paths_only": "the cache paths are in `cfcompile EXP -p P --dry-run --json`",
    "print_params": "cfcompile does not print parameter sets; hashes_only=True gives the hashes",
}


def _indices(entries: list[str] | None, what: str) -> list[int]:
    """curifactory's index ranges: ``"4"`` or ``"3-7"`` (3 to 6: the end is excluded)."""
    out: list[int] = []
    for entry in entries or []:
        try:
            if "-" in entry:
                start, end = entry.split("-", 1)
                out.extend(range(int(start), int(end)))
            else:
                out.append(int(entry))
        except ValueError:
            raise IndexRangeError(
                f"{what}: {entry!r} is not an index N or a range N-M (M excluded)"
            ) from None
    return out


def _collect(
    project: Any,
    manager: ArtifactManager,
    param_files: list[str],
    param_set_names: list[str] | None,
    param_set_indices: list[int],
) -> list[Any]:
    """Each file's get_params(), filtered by name and by index within its file, as
    curifactory's ``collect_parameter_sets`` does (not offered under that name: its
    signature is curifactory's internals); cfcompile's checks (preset hashes, shared names,
    unstable hashes) apply as well."""
    for name in param_files:
        if project.module_path(PARAMS, name) is None:
            if project.module_path(EXPERIMENTS, name) is None:
                raise ParamFileNotFoundError(
                    f"parameter file '{name}' is in neither {project.folder(PARAMS)} nor "
                    f"{project.folder(EXPERIMENTS)}; available: "
                    f"{', '.join(project.module_files(PARAMS)) or 'none'}"
                )
    loaded = project.load_param_sets(param_files[0], param_files)  # never empty: no default
    for name in param_files:
        manager.param_file_param_sets[name] = []
    chosen = []
    for p, origin in loaded:
        if param_set_names is not None and p.name not in param_set_names:
            continue
        if param_set_indices and origin.index not in param_set_indices:
            continue
        p.hash = params_hash(p)
        manager.param_file_param_sets[origin.pname].append((p.name, p.hash))
        chosen.append((p, origin))
    return chosen


# long: curifactory's signature, keyword for keyword (40 of them): code calling it must not
# need changes, and the body runs them in curifactory's order
def run_experiment(
    experiment_name: str,
    param_files: list[str] | None = None,
    overwrite_override: bool | None = None,
    cache_dir_override: str | None = None,
    mngr: ArtifactManager | None = None,
    log: bool = False,
    log_debug: bool = False,
    dry: bool = False,
    dry_cache: bool = False,
    store_full: bool = False,
    log_errors: bool = False,
    prefix: str | None = None,
    build_docker: bool = False,
    build_notebook: bool = False,
    run_string: str | None = None,
    stage_overwrites: list[str] | None = None,
    param_set_names: list[str] | None = None,
    param_set_indices: list[str] | None = None,
    global_param_set_indices: list[str] | None = None,
    parallel: int | None = None,
    parallel_mode: bool = False,
    parallel_lock: Any = None,
    parallel_queue: Any = None,
    run_num_override: int | None = None,
    run_ts_override: Any = None,
    lazy: bool = False,
    ignore_lazy: bool = False,
    report: bool = True,
    no_dag: bool = False,
    map_only: bool = False,
    hashes_only: bool = False,
    paths_only: bool = False,
    print_params: bool | str = False,
    no_color: bool = False,
    quiet: bool = False,
    progress: bool = False,
    plain: bool = False,
    notes: str | None = None,
    all_loggers: bool = False,
) -> tuple[Any, ArtifactManager]:
    """Run ``experiments/EXPERIMENT_NAME.py``'s ``run()`` eagerly; ``(results, manager)``.

    Returns what ``run()`` returned (``None`` if it raised; the manager's ``status`` is then
    ``"error"`` and ``error`` holds the exception, as in curifactory), or ``({hash: name},
    manager)`` with ``hashes_only``. ``parallel=N`` runs in this process: the compiled workflow
    is cfcompile's parallel run (``cfcompile EXP -p P --run``). Cosmetic and bookkeeping
    keywords (colours, progress, notes, store_full, ignore_lazy, ...) are accepted; no run
    store, params registry or run folder is written.
    """
    given = dict(locals())
    for key, alternative in UNSUPPORTED.items():
        if given[key]:
            raise CfcompileError(f"run_experiment({key}=...) is not supported: {alternative}")
    project = Project.find()
    project.activate()
    given_files = param_files
    param_files = list(param_files or [experiment_name])  # curifactory's implied -p EXPERIMENT
    if run_string is None:
        run_string = run_line(experiment_name, given)
    if distributed_worker():  # rank 0 keeps the run store and the run folder
        parallel_mode, store_full = True, False
    if mngr is None:
        with manager_preset(
            cache_path=project.path("cache_path"),
            run_info=run_info(str(project.root), experiment_name),
            folders=True,
            run_store=True,
            **project.manager_paths(),
        ):  # curifactory's exact call (code patches __init__ and checks it); paths: the preset
            mngr = ArtifactManager(
                experiment_name,
                store_full=store_full,
                dry=dry or hashes_only,
                dry_cache=dry_cache,
                prefix=prefix,
                run_line=run_string,
                parallel_lock=parallel_lock,
                parallel_mode=parallel_mode,
                lazy=lazy,
                ignore_lazy=ignore_lazy,
                status_override=None,
                notes=notes,
                disable_non_cf_loggers=not all_loggers,
            )
        mngr.parameter_files = given_files
        if run_num_override is not None:
            mngr.experiment_run_number = run_num_override
        if run_ts_override is not None:
            mngr.run_timestamp = run_ts_override
        if stage_overwrites:
            mngr.overwrite_stages = list(stage_overwrites)
    if cache_dir_override is not None:
        mngr.cache_path = cache_dir_override
    if overwrite_override:
        mngr.overwrite = True
    logs = LogFile(mngr, log_debug) if log and not (dry or hashes_only) else None
    try:
        loaded = _collect(
            project,
            mngr,
            param_files,
            param_set_names,
            _indices(param_set_indices, "param_set_indices"),
        )
        if hashes_only:
            for p, _ in loaded:
                print(p.hash, p.name)
            return {p.hash: p.name for p, _ in loaded}, mngr
        found = {p.name for p, _ in loaded}
        for name in param_set_names or []:
            if name not in found:
                raise ParamSelectionError(
                    f"Paramset name '{name}' not found in any of the provided parameter files."
                )
        if not loaded:
            raise ParamSelectionError(
                "No parameter sets found, please make sure any `get_params()` functions are "
                "returning non-empty arrays."
            )
        overall = _indices(global_param_set_indices, "global_param_set_indices")
        if overall:
            loaded = [loaded[i] for i in overall]
        sets = checked_selection(loaded, experiment_name, for_jobs=False)
        for p in sets:
            mngr.register(p)  # params_registry.json, as curifactory's experiment writes it
        module = project.experiment(experiment_name)
        if parallel is not None:
            logging.getLogger("cfcompile").info(
                "parallel=%s: running in this process; a compiled workflow runs in parallel (%s)",
                parallel,
                shlex.join(
                    [
                        "cfcompile",
                        experiment_name,
                        *[w for n in param_files or [] for w in ("-p", n)],
                        "--run",
                    ]
                ),
            )
        logging.getLogger("cfcompile").info(
            "Running experiment %s (%s)", experiment_name, project.folder(EXPERIMENTS)
        )
        results = None
        try:
            results = module.run(sets, mngr)
            if not mngr.error_thrown:
                mngr.status = "complete"
        except Exception as exc:  # noqa: BLE001 - curifactory reports, it does not raise
            logging.getLogger("cfcompile").error("%s\n%s", exc, traceback.format_exc())
            if not mngr.error_thrown:
                mngr.status = "error"
                mngr.error = f"{type(exc).__name__} - {exc}"
        if parallel_mode and parallel_queue is not None:
            parallel_queue.put((None, mngr.status, mngr.error))
        if not parallel_mode:
            mngr.store()  # the run's status (and error) in store.json
        if not dry and not parallel_mode and report:
            mngr.generate_report()
        return results, mngr
    finally:
        if logs is not None:
            logs.close()


class LogFile:
    """``log=True``: the run's log in ``logs_path/REFERENCE.log``, as curifactory writes it.

    Only for the run: the handler goes and the loggers' levels come back afterwards
    (curifactory replaces the root logger's handlers for good; a caller's own logging setup
    is left alone here).
    """

    def __init__(self, manager: ArtifactManager, debug: bool):
        os.makedirs(manager.logs_path, exist_ok=True)
        self.path = os.path.join(manager.logs_path, f"{manager.get_reference_name()}.log")
        self.handler = logging.FileHandler(self.path)
        self.handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] - %(message)s"))
        level = logging.DEBUG if debug else logging.INFO
        self.handler.setLevel(level)
        self.loggers = [logging.getLogger(), logging.getLogger("cfcompile")]
        self.levels = [lg.level for lg in self.loggers]
        self.loggers[0].addHandler(self.handler)
        for lg in self.loggers:
            if lg.getEffectiveLevel() > level:
                lg.setLevel(level)

    def close(self) -> None:
        self.loggers[0].removeHandler(self.handler)
        self.handler.close()
        for lg, level in zip(self.loggers, self.levels, strict=True):
            lg.setLevel(level)


def run_script(path: str, args: list[str]) -> None:
    """Run ``path`` as ``__main__`` (its folder first on sys.path, as ``python path`` does)
    with ``curifactory`` aliased to cfcompile."""
    import runpy

    if not os.path.isfile(path):
        raise SystemExit(f"cfcompile: error: no script {path}: give the path of a .py file")
    compat.install()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: python -m cfcompile.experiment SCRIPT.py [ARGS...]\n"
            "Run a script that uses curifactory (its own ArtifactManager, stages called "
            "directly) with `import curifactory` meaning cfcompile."
        )
        return 0 if argv else 2
    run_script(argv[0], argv[1:])
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
