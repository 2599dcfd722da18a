"""Run an experiment the way its command does, and dump what its records held in memory.

    python curifactory_run.py DUMP experiment NAME [-p P ...]     # curifactory's `experiment`
    python curifactory_run.py DUMP cfcompile NAME [-p P ...] ...  # the `cfcompile` command
    python curifactory_run.py DUMP --script FILE                  # `python FILE`
    python curifactory_run.py DUMP --cfcompile --script FILE      # python -m cfcompile.experiment
    python curifactory_run.py DUMP [--cfcompile] run_experiment NAME [-p P ...] [--names N ...]

``experiment`` and ``cfcompile`` call the console entry point of that command
(``curifactory.cli.main``, ``cfcompile.cli.main``) with exactly these arguments, so the run is
the one the command makes. A script runs as ``python FILE`` would run it, or, with
``--cfcompile``, through ``cfcompile.experiment.main`` (what ``python -m cfcompile.experiment
FILE`` calls: the script with ``import curifactory`` meaning cfcompile). ``run_experiment``
calls ``curifactory.experiment.run_experiment`` (with ``--cfcompile``: after
``cfcompile.compat.install()``, so the name is cfcompile's, as in any cfcompile process) and
pickles what it raised: ``{"mro": [class names], "message": str}``, or ``None``.

Around the run, every ``ArtifactManager`` of the library in use is remembered. When the run ends
(or raises), each record's hash, its stages with the outputs each produced (curifactory's
bookkeeping; empty where the library keeps none) and the picklable values of its state are
pickled to DUMP (``-``: no dump). curifactory caches only what has a cacher, so these dumps are
what compares outputs that only ever live in memory.
"""

from __future__ import annotations

import os
import pickle
import runpy
import sys


def _outputs_by_stage(record) -> list[tuple[str, list[str]]]:
    """[(stage, [output names])] in the order the record ran them (curifactory's bookkeeping)."""
    reps = getattr(record, "state_artifact_reps", {})
    by_index = {index: name for name, index in reps.items()}
    produced_by = getattr(record, "stage_outputs", [])
    stages = []
    for i, stage in enumerate(getattr(record, "stages", [])):
        produced = produced_by[i] if i < len(produced_by) else []
        stages.append((stage, [by_index[j] for j in produced if j in by_index]))
    return stages


def _prefix(manager) -> str:
    if hasattr(manager, "_get_name"):
        return manager._get_name()
    return manager.prefix or manager.experiment_name


def dump(managers: list, path: str) -> None:
    out = []
    for manager in managers:
        records = []
        for record in manager.records:
            state = {}
            for key, value in dict.items(record.state):  # dict.items: never resolves a Lazy
                if type(value).__name__ == "Lazy":
                    continue  # lazy outputs are cached; their files are compared instead
                try:
                    pickle.dumps(value)
                except Exception:  # noqa: BLE001 - an unpicklable value is simply not compared
                    continue
                state[key] = value
            name = record.params.name if record.params is not None else None
            hash_ = record.get_hash()
            records.append(
                {"name": name, "hash": hash_, "stages": _outputs_by_stage(record), "state": state}
            )
        out.append({"prefix": _prefix(manager), "records": records})
    with open(path, "wb") as f:
        pickle.dump(out, f)


def call_run_experiment(args: list[str], dump_path: str, on_cfcompile: bool) -> int:
    """run_experiment(NAME, [P ...], param_set_names=[N ...] or None); the exception, if any,
    goes to DUMP (and is raised again)."""
    name, param_files, names, current = args[0], [], [], None
    for arg in args[1:]:
        if arg in ("-p", "--names"):
            current = param_files if arg == "-p" else names
        else:
            current.append(arg)
    from curifactory.experiment import run_experiment

    if on_cfcompile and not run_experiment.__module__.startswith("cfcompile"):
        # never let the real curifactory stand in for cfcompile
        raise SystemExit(f"curifactory.experiment is {run_experiment.__module__}, not cfcompile's")
    raised = None
    try:
        run_experiment(name, param_files, param_set_names=names or None)
        return 0
    except Exception as exc:
        raised = {"mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}
        raise
    finally:
        if dump_path != "-":
            with open(dump_path, "wb") as f:
                pickle.dump(raised, f)


def main() -> int:
    dump_path, *rest = sys.argv[1:]
    on_cfcompile = rest[0] in ("--cfcompile", "cfcompile")
    if rest[0] == "--cfcompile":
        rest = rest[1:]
    # sys.path as the real command has it: not this file's folder, but the script's own
    # folder for `python FILE` (a console script's folder holds nothing to import)
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    if rest[0] == "--script" and not on_cfcompile:  # cfcompile.experiment does it itself
        sys.path.insert(0, os.path.dirname(os.path.abspath(rest[1])))

    if rest[0] == "run_experiment":
        if on_cfcompile:
            from cfcompile import compat

            compat.install()
        return call_run_experiment(rest[1:], dump_path, on_cfcompile)
    if on_cfcompile:
        import cfcompile as library
    else:
        import curifactory as library

    managers: list = []
    original_init = library.ArtifactManager.__init__

    def remembering_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        managers.append(self)

    library.ArtifactManager.__init__ = remembering_init
    try:
        if rest[0] == "--script" and on_cfcompile:
            from cfcompile import experiment

            sys.argv = [experiment.__file__, rest[1]]
            return experiment.main([rest[1]])
        if rest[0] == "--script":
            sys.argv = [rest[1]]
            runpy.run_path(rest[1], run_name="__main__")
            return 0
        if rest[0] == "cfcompile":
            from cfcompile import cli

            sys.argv = rest
            return cli.main(rest[1:])
        from curifactory import cli

        sys.argv = rest
        cli.main()
        return 0
    finally:
        if dump_path != "-":
            dump(managers, dump_path)


if __name__ == "__main__":
    sys.exit(main())
