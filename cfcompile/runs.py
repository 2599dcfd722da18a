"""A live manager's run bookkeeping, as curifactory keeps it: the run store, run folders.

A manager that a script, a notebook or ``run_experiment`` builds is one run of an experiment.
curifactory numbers such runs per experiment in ``store.json`` (in ``manager_cache_path``),
names them ``EXPERIMENT_NUMBER_TIMESTAMP`` (logs, reports, run folders), and with
``store_full`` gives each a folder ``runs_path/REFERENCE/`` holding a copy of every artifact
the run wrote or read (``artifacts/``), the parameter registry, the environment
(``requirements.txt``, ``environment.yml``, ``environment_meta.txt``), ``run_info.json`` and
the report. Code written for curifactory reads these files and paths, so a live manager keeps
them the same way.

A compiled workflow keeps none of them: it is many jobs on many nodes that would all write one
shared JSON file, and its provenance is per artifact (docs/semantics.md, "Not carried over").
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cfcompile import hashing, utils

STORE_FILE = "store.json"
_PLAIN_CSS = "body { font-family: sans-serif; margin: 2em; }\npre { background: #f4f4f4; }\n"


class RunStore:
    """``store.json``: one metadata block per run, the run counter of each experiment."""

    def __init__(self, manager_cache_path: str):
        self.path = os.path.join(manager_cache_path, STORE_FILE)
        self.runs: list[dict] = []
        if os.path.exists(self.path):
            with open(self.path) as infile:
                self.runs = json.load(infile)

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "w") as outfile:
            json.dump(self.runs, outfile, indent=4, default=str)

    def get_experiment_runs(self, experiment_name: str | None) -> list[dict]:
        return [run for run in self.runs if run["experiment_name"] == experiment_name]

    def get_run(self, reference: str) -> tuple[dict | None, int]:
        for index, run in enumerate(self.runs):
            if run["reference"] == reference:
                return run, index
        return None, -1

    def add_run(self, manager: Any) -> dict:
        """Number the manager's run (one past the experiment's last) and record it."""
        previous = self.get_experiment_runs(manager.experiment_name)
        manager.experiment_run_number = previous[-1]["run_number"] + 1 if previous else 1
        manager.git_commit_hash = utils.get_current_commit()
        manager.git_workdir_dirty = utils.check_git_dirty_workingdir()
        run = {
            "reference": manager.get_reference_name(),
            "experiment_name": manager.experiment_name,
            "run_number": manager.experiment_run_number,
            "timestamp": manager.get_str_timestamp(),
            "commit": manager.git_commit_hash,
            "workdir_dirty": manager.git_workdir_dirty,
            "param_files": manager.parameter_files,
            "params": manager.param_file_param_sets,
            "full_store": manager.store_full,
            "status": "incomplete",
            "cli": manager.run_line,
            "hostname": manager.hostname,
            "notes": manager.notes,
        }
        if manager.store_full:
            run["reproduce"] = reproduction_line(manager)
        self.runs.append(run)
        self.save()
        return run

    def update_run(self, manager: Any) -> dict | None:
        """The run's status, error and parameter files as they are now (None: not stored)."""
        run, index = self.get_run(manager.get_reference_name())
        if run is None:
            return None
        run["status"] = manager.status
        if manager.status == "error":
            run["error"] = manager.error
        run["param_files"] = manager.parameter_files
        run["params"] = manager.param_file_param_sets
        if manager.store_full:
            run["reproduce"] = reproduction_line(manager)
        self.runs[index] = run
        self.save()
        return run


def reproduction_line(manager: Any) -> str:
    """The command that reruns a ``store_full`` run against its own copy of the cache: the run
    line without ``--overwrite`` and ``--store-full``, plus ``--cache RUN/artifacts
    --dry-cache`` (curifactory's ``reproduce`` entry)."""
    line = manager.run_line.replace("--overwrite ", "")
    if line.endswith("--overwrite"):
        line = line[: -len(" --overwrite")]
    line = line.replace("--store-full ", "")
    if line.endswith("--store-full"):
        line = line[: -len(" --store-full")]
    manager.reproduction_line = f"{line} --cache {run_output_path(manager)}/artifacts --dry-cache"
    return manager.reproduction_line


def run_output_path(manager: Any, obj_name: str | None = None) -> str:
    """``runs_path/REFERENCE[/obj_name]``; the folders up to ``obj_name`` exist afterwards
    (``obj_name`` itself is a file name: only what comes before its last ``/`` is made)."""
    folder = os.path.join(manager.runs_path, manager.get_reference_name())
    if obj_name is None:
        os.makedirs(folder, exist_ok=True)
        return folder
    parent = os.path.dirname(obj_name)
    os.makedirs(os.path.join(folder, parent) if parent else folder, exist_ok=True)
    return os.path.join(folder, obj_name)


def write_run_env_output(manager: Any) -> None:
    """The environment of a ``store_full`` run into its folder: ``pip freeze``, the conda
    environment (when there is one), the OS and the run's store entry."""
    manager.pip_freeze = utils.get_pip_freeze()
    manager.conda_env = utils.get_conda_env()
    manager.os = utils.get_os()
    with open(run_output_path(manager, "requirements.txt"), "w", newline="") as outfile:
        outfile.write(manager.pip_freeze)
    if manager.conda_env != "":
        with open(run_output_path(manager, "environment.yml"), "w", newline="") as outfile:
            outfile.write(manager.conda_env)
    with open(run_output_path(manager, "environment_meta.txt"), "w") as outfile:
        outfile.write(manager.os)
    write_run_info(manager)


def write_run_info(manager: Any) -> None:
    """``run_info.json``: the run's store entry (and cfcompile's provenance, where given)."""
    if manager.run_info:
        with open(run_output_path(manager, "run_info.json"), "w") as outfile:
            json.dump(manager.run_info, outfile, indent=4, default=str)


def copy_tracked_paths(record: Any) -> None:
    """Copy what the stage that just ran wrote or read through tracked paths into the run
    folder's ``artifacts/`` (``store_full``), each once; then forget the list either way."""
    manager = record.manager
    if manager.store_full and not manager.dry:
        for entry in record.unstored_tracked_paths:
            path = entry["path"]
            if path in record.stored_paths or not os.path.exists(path):
                continue  # a check() may name a file that was never written
            name = entry["obj_name"] if entry["obj_name"] is not None else os.path.basename(path)
            target = manager.get_artifact_path(
                name, record, subdir=entry["subdir"], prefix=entry["prefix"], store=True
            )
            if os.path.isdir(path):
                shutil.copytree(path, target, dirs_exist_ok=True)
            else:
                shutil.copy(path, target)
            record.stored_paths.append(path)
    record.unstored_tracked_paths = []


class RunBookkeeping:
    """The run store and run folder methods of ``ArtifactManager`` (curifactory's names).

    ``keeps_runs`` says whether this manager is a run of its own (a script's, a notebook's,
    ``run_experiment``'s, ``--eager``'s) rather than a part of cfcompile's runtime (the
    tracer, a compiled job), which keep no store. Nothing is written when ``dry``.
    """

    keeps_runs: bool = False
    stored: bool = False

    def store(self: Any) -> None:
        """Add this run to ``store.json`` (numbering it) or, once added, update its entry;
        ``run_info`` then holds the entry (and ``run_info.json`` of a store_full run)."""
        if self.dry or not self.keeps_runs:
            return
        runs = RunStore(self.manager_cache_path)
        if self.stored:
            entry = runs.update_run(self)
            if entry is not None:
                self.run_info.update(entry)
                if self.store_full:
                    write_run_info(self)
            return
        self.run_info.update(runs.add_run(self))
        self.stored = True
        if self.store_full:
            write_run_env_output(self)

    def writes_registry(self: Any) -> bool:
        """Whether records note their hashes in ``params_registry.json`` (curifactory's rule:
        not when dry or a parallel worker), for a manager that keeps its runs."""
        return self.keeps_runs and not (self.dry or self.parallel_mode)

    def registries(self: Any) -> list[str]:
        """The folders whose ``params_registry.json`` notes the run's hashes: the manager's
        and, with store_full, the run folder's (none when ``writes_registry`` is False)."""
        if not self.writes_registry():
            return []
        folders = [self.manager_cache_path]
        return folders + [self.get_run_output_path()] if self.store_full else folders

    def register(self: Any, param_set: Any) -> None:
        """Note ``param_set``'s hash and representations in the run's registries."""
        for folder in self.registries():
            hashing.hash_param_set(param_set, True, folder)

    def get_run_output_path(self: Any, obj_name: str | None = None) -> str:
        """This run's ``store_full`` folder, ``runs_path/REFERENCE``, or a file in it."""
        return run_output_path(self, obj_name)

    def publish_report(self: Any, folder: str) -> str:
        """Complete the report in ``folder`` as curifactory does: the css
        (``report_css_path``, else a plain one), the run's log as ``log.txt``,
        ``reports_path/_latest`` linked to it, and with store_full a copy as the run
        folder's ``report/``."""
        css = os.path.join(folder, "style.css")
        if os.path.isfile(self.report_css_path):
            shutil.copy(self.report_css_path, css)
        elif not os.path.exists(css):
            with open(css, "w") as outfile:
                outfile.write(_PLAIN_CSS)
        log = os.path.join(self.logs_path, f"{self.get_reference_name()}.log")
        if os.path.isfile(log):
            shutil.copy(log, os.path.join(folder, "log.txt"))
        latest = os.path.join(self.reports_path, "_latest")
        if os.path.islink(latest) or os.path.isfile(latest):
            os.remove(latest)
        elif os.path.isdir(latest):
            shutil.rmtree(latest)
        os.symlink(os.path.basename(folder), latest, target_is_directory=True)
        if self.store_full:
            shutil.copytree(folder, self.get_run_output_path("report"), dirs_exist_ok=True)
        return folder

    def write_run_env_output(self: Any) -> None:
        write_run_env_output(self)


_PRESET: ContextVar[dict[str, Any] | None] = ContextVar("cfcompile_manager_preset", default=None)


@contextmanager
def manager_preset(**values: Any) -> Iterator[None]:
    """Inside the block, every ``ArtifactManager`` takes these values for the keywords its
    caller left ``None`` (paths, ``run_info``, ``folders``, ``run_store``).

    ``run_experiment`` builds its manager with exactly curifactory's constructor call (code
    written for curifactory, its test suite included, patches ``ArtifactManager.__init__`` and
    checks that call), and hands over the project's own paths and the run's provenance this way.
    """
    token = _PRESET.set(dict(values))
    try:
        yield
    finally:
        _PRESET.reset(token)


def preset(key: str, given: Any) -> Any:
    """``given``, or when it is None the value ``manager_preset`` set for ``key`` (or None)."""
    values = _PRESET.get()
    return given if given is not None or values is None else values.get(key)
