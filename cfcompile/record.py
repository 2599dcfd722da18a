"""Records (one parameter set's state through a chain of stages) and the artifact manager."""

from __future__ import annotations

import copy
import os
import socket
import sys
from datetime import datetime
from typing import Any

from cfcompile import hashing, utils
from cfcompile.caching.base import State
from cfcompile.errors import CfcompileError
from cfcompile.notebook_display import NotebookDisplays
from cfcompile.reporting import Reportable, safe_file_name, write_run_report
from cfcompile.runs import RunBookkeeping, copy_tracked_paths, preset
from cfcompile.stages import StageEngine, default_engine


def _inside(folder: str, path: str) -> bool:
    folder, path = os.path.abspath(folder), os.path.abspath(path)
    return path.startswith(folder.rstrip(os.sep) + os.sep)


class ArtifactManager(RunBookkeeping, NotebookDisplays):
    """One experiment run: its records, reportables, cache location and execution engine.

    The engine decides what calling a stage means (run now, record a graph node, ...); it is
    chosen here, once, so that stage decorators never need to know which mode is active.

    The constructor takes curifactory 0.20.5's keywords, in its order, so code written for
    curifactory builds a manager unchanged; cfcompile's own keywords come last. Paths left
    ``None`` come from ``curifactory_config.json`` (``utils.get_configuration``, relative to the
    working directory, as in curifactory; ``runs.manager_preset`` can supply them). A manager
    that is a run of its own keeps curifactory's run store, registry and ``store_full`` run
    folder (``runs.RunBookkeeping``), and shows parts of its report in a notebook
    (``display_info()`` ...: ``notebook_display.NotebookDisplays``). ``dry``/``dry_cache``
    skip writing cache files, as in curifactory (existing caches are still read);
    ``lazy``/``ignore_lazy`` change how outputs are kept (``stages.as_run_by``). What
    cfcompile does not act on is kept as an attribute (``parallel_lock``,
    ``suppress_live_log``, ``live_log_debug``, ``disable_non_cf_loggers``).

    cfcompile's keywords: ``overwrite`` (rerun every stage), ``engine`` (given by cfcompile's
    tracer), ``run_info`` (provenance written into metadata) and ``folders``: whether to create
    curifactory's folders (cache and runs unless dry or dry_cache, reports and logs unless dry)
    now, as curifactory does. By default a manager built by the researcher does; one built by
    cfcompile's runtime (an engine or run_info given: the tracer, a compiled job) does not, so
    that jobs never create folders in whatever directory Snakemake runs them from.
    ``run_store`` likewise: whether this manager keeps the run store (same default).
    """

    # long: curifactory 0.20.5's 22 keywords in its order, each kept as an attribute
    def __init__(
        self,
        experiment_name: str | None = None,
        store_full: bool = False,
        dry: bool = False,
        dry_cache: bool = False,
        prefix: str | None = None,
        run_line: str = "",
        parallel_lock: Any = None,
        parallel_mode: bool = False,
        lazy: bool = False,
        ignore_lazy: bool = False,
        notes: str | None = None,
        manager_cache_path: str | None = None,
        cache_path: str | None = None,
        runs_path: str | None = None,
        logs_path: str | None = None,
        notebooks_path: str | None = None,
        reports_path: str | None = None,
        report_css_path: str | None = None,
        status_override: str | None = "LIVE",
        suppress_live_log: bool = False,
        live_log_debug: bool = False,
        disable_non_cf_loggers: bool = True,
        *,
        overwrite: bool = False,
        engine: StageEngine | None = None,
        run_info: dict | None = None,
        folders: bool | None = None,
        run_store: bool | None = None,
    ):
        self.config = utils.get_configuration()
        paths = {
            "manager_cache_path": manager_cache_path,
            "cache_path": cache_path,
            "runs_path": runs_path,
            "logs_path": logs_path,
            "notebooks_path": notebooks_path,
            "reports_path": reports_path,
            "report_css_path": report_css_path,
        }
        paths = {k: preset(k, v) for k, v in paths.items()}
        paths = {k: v if v is not None else self.config[k] for k, v in paths.items()}
        run_info, folders, run_store = (
            preset("run_info", run_info),
            preset("folders", folders),
            preset("run_store", run_store),
        )
        self.experiment_name = experiment_name
        self.prefix = prefix
        self.manager_cache_path: str = paths["manager_cache_path"]
        self.cache_path: str = paths["cache_path"]
        self.runs_path: str = paths["runs_path"]
        self.logs_path: str = paths["logs_path"]
        self.notebooks_path: str = paths["notebooks_path"]
        self.reports_path: str = paths["reports_path"]
        self.report_css_path: str = paths["report_css_path"]
        self.store_full = store_full
        self.reuse = True  # False: --no-reuse, every node computes (core.reuse)
        self.reuse_learned = False  # --reuse: stages without uses= merge by what they read
        self.dry = dry
        self.dry_cache = dry_cache
        self.run_line = run_line
        self.parallel_lock = parallel_lock
        self.parallel_mode = parallel_mode
        self.lazy = lazy
        self.ignore_lazy = ignore_lazy
        self.notes = notes
        self.status = "incomplete" if status_override is None else status_override
        self.suppress_live_log = suppress_live_log
        self.live_log_debug = live_log_debug
        self.disable_non_cf_loggers = disable_non_cf_loggers
        self.error: str | None = None
        self.error_thrown = False
        self.run_timestamp = datetime.now()
        self.experiment_run_number = 0  # numbered when the run store records the run
        self.git_commit_hash, self.git_workdir_dirty = "", False
        self.pip_freeze = self.conda_env = self.os = self.reproduction_line = ""
        self.parameter_files: list[str] = []
        self.param_file_param_sets: dict[str, list[tuple[str, str]]] = {}
        self.overwrite_stages: list[str] = []
        self.interactive = hasattr(sys, "ps1") and self.status == "LIVE"
        if self.status == "LIVE":  # a manager outside run_experiment: what started it
            self.run_line = "(Interactive environment)" if self.interactive else " ".join(sys.argv)
        self.hostname = socket.gethostname()
        self.overwrite = overwrite
        researcher_built = engine is None and run_info is None
        if engine is None:  # eager; with dry or dry_cache, eager without writing the cache
            engine = default_engine(dry=dry or dry_cache)
        self.engine: StageEngine = engine
        self.run_info = dict(run_info or {})
        self.records: list[Record] = []
        self.reportables: list[Reportable] = []
        self.current_stage_name: str | None = None
        self._made_dirs: set[str] = set()
        if folders if folders is not None else researcher_built:
            self.create_folders()
        self.keeps_runs = researcher_built if run_store is None else run_store
        if not parallel_mode:
            self.store()

    def create_folders(self) -> None:
        """curifactory's folders: cache and runs unless dry or dry_cache, reports and logs
        unless dry (a script may write its own log into logs/ right away)."""
        wanted = [] if self.dry else [self.reports_path, self.logs_path]
        if not (self.dry or self.dry_cache):
            wanted += [self.cache_path, self.runs_path]
        for path in wanted:
            os.makedirs(path, exist_ok=True)

    def get_str_timestamp(self) -> str:
        """The run's start time as curifactory writes it in reference names."""
        return self.run_timestamp.strftime("%Y-%m-%d-T%H%M%S")

    def get_reference_name(self) -> str:
        """``EXPERIMENT_RUN_TIMESTAMP``, curifactory's name for one run (logs, reports)."""
        return f"{self.experiment_name}_{self.experiment_run_number}_{self.get_str_timestamp()}"

    def lock(self) -> None:
        if self.parallel_lock is not None:
            self.parallel_lock.acquire()

    def unlock(self) -> None:
        if self.parallel_lock is not None:
            self.parallel_lock.release()

    def generate_report(self) -> str | None:
        """Write a report of this run's reportables to ``reports_path/REFERENCE/index.html``
        (curifactory's place for it) and return its folder; nothing when dry. The report
        gets the run's log and the css, ``reports_path/_latest`` points to it, and a
        store_full run keeps a copy in its run folder (``publish_report``).

        A compiled workflow's full report (DAG, results, history) is ``cfcompile EXP -p P
        --report``.
        """
        if self.dry:
            return None
        self.store()
        return self.publish_report(write_run_report(self))

    def get_artifact_filename(
        self,
        obj_name: str,
        record: Record,
        prefix: str | None = None,
        stage_name: str | None = None,
    ) -> str:
        """``{prefix}_{hash}_{stage}_{obj_name}``, curifactory's name for a cache file.

        Outside any stage (before the first one ran) the stage part is empty, as curifactory's
        manager starts with ``current_stage_name = ""``: ``..._{hash}__{obj_name}``.
        """
        prefix = prefix if prefix is not None else (self.prefix or self.experiment_name)
        if stage_name is None:
            stage_name = self.current_stage_name or ""
        return f"{prefix}_{record.get_hash()}_{stage_name}_{obj_name}"

    def get_artifact_path(
        self,
        obj_name: str,
        record: Record,
        subdir: str | None = None,
        prefix: str | None = None,
        stage_name: str | None = None,
        store: bool = False,
    ) -> str:
        """The cache file of ``obj_name``, or with ``store`` its copy in the run folder."""
        root = os.path.join(self.get_run_output_path(), "artifacts") if store else self.cache_path
        base = root if subdir is None else os.path.join(root, subdir)
        filename = self.get_artifact_filename(obj_name, record, prefix, stage_name)
        path = os.path.join(base, filename)
        if (subdir is not None or os.sep in filename or "\0" in filename) and not _inside(
            root, path
        ):
            stage = stage_name if stage_name is not None else self.current_stage_name
            raise CfcompileError(
                f"cache file '{filename}' of stage '{stage}' ({record.get_reference_name()}) "
                f"would be written outside the cache folder {self.cache_path}: a prefix, output "
                "name or subdir must not contain '..' or start with '/'"
            )
        if base not in self._made_dirs:  # once per folder: tracing 10,000s of nodes calls this
            os.makedirs(base, exist_ok=True)
            self._made_dirs.add(base)
        return path


class Record:
    """The state of one parameter set as it flows through stages."""

    def __init__(self, manager: ArtifactManager, param_set: Any, hide: bool = False):
        self.manager = manager
        self.params = param_set
        self.state = State()
        self.output: Any = None
        self.stages: list[str] = []
        self.input_records: list[Record] = []
        self.is_aggregate = False
        self.combo_hash: str | None = None
        # the cachers of the stage running on this record (None between stages), as in
        # curifactory: a stage reads its own output paths from them (PathRef's idiom)
        self.stage_cachers: list | None = None
        # output name -> (reuse class, id of the value) of the node that put it in state
        # (core.reuse); eager only
        self.reuse_keys: dict[str, tuple[str, int] | None] = {}
        # paths a stage wrote or read (get_path/get_dir, cachers), copied into the run folder
        # at its end with store_full (curifactory's names)
        self.unstored_tracked_paths: list[dict[str, str | None]] = []
        self.stored_paths: list[str] = []
        if self.params is not None:
            if getattr(self.params, "hash", None) is None:
                self.params.hash = hashing.params_hash(self.params)
                manager.register(self.params)
            else:  # preset (or set inside run()): it becomes part of every path of this record
                hashing.check_preset_hash(self.params)
        if not hide:
            manager.records.append(self)

    def track_path(
        self, obj_name: str | None, subdir: str | None, prefix: str | None, path: str
    ) -> None:
        """Note a path the running stage wrote or read, for the run folder (store_full)."""
        entry = {"obj_name": obj_name, "subdir": subdir, "prefix": prefix, "path": path}
        self.unstored_tracked_paths.append(entry)

    def store_tracked_paths(self) -> None:
        """Copy what the stage that just ran tracked into the run folder (store_full)."""
        copy_tracked_paths(self)

    def get_hash(self) -> str:
        if self.is_aggregate:
            return self.combo_hash
        if self.params is not None:
            return self.params.hash
        return "None"

    def overwrite_requested(self) -> bool:
        """The one overwrite rule (eager and compiled alike): the run's ``--overwrite``, this
        record's ``overwrite`` parameter, or for a record without parameters (an aggregate, a
        copy) the ``overwrite`` of any record it was built from."""
        if self.manager.overwrite:
            return True
        if self.manager.current_stage_name in self.manager.overwrite_stages:
            return True  # curifactory's --overwrite-stage
        if self.params is not None:
            return bool(self.params.overwrite)
        if not self.uses_cache():
            return True
        return any(r.params is not None and r.params.overwrite for r in self.input_records)

    def uses_cache(self) -> bool:
        """Whether a cached output of this record may be reused at all (curifactory's check).

        A record without parameters reuses its cache only when it aggregates over at least
        one record: curifactory's ``Cacheable.check`` is False for a plain ``Record(manager,
        None)`` and for an aggregate over no records, so their stages rerun on every run. A
        compiled workflow reruns them once per compile (they are forced, like ``overwrite``).
        """
        if self.params is not None:
            return True
        return self.is_aggregate and len(self.input_records) > 0

    def set_aggregate(self, records: list[Record]) -> None:
        """Cache under the combo hash of this record and every record aggregated over."""
        self.is_aggregate = True
        own = self.params.hash if self.params is not None else None
        self.combo_hash = hashing.combo_hash(
            own, [r.params.hash if r.params is not None else None for r in records]
        )
        for folder in self.manager.registries():
            hashing.add_params_combo_hash(self, records, folder, True)

    def report(self, reportable: Reportable) -> None:
        reportable.record = self
        reportable.stage = self.stages[-1] if self.stages else None
        qualified = "(Aggregate)_" if self.is_aggregate else ""
        if self.params is not None:
            qualified += f"{self.params.name}_"
        qualified += f"{reportable.stage}_"
        qualified += (
            str(len(self.manager.reportables)) if reportable.name is None else reportable.name
        )
        # the name of the reportable's file: parameter-set names are free text
        reportable.qualified_name = safe_file_name(qualified)
        self.manager.reportables.append(reportable)

    def make_copy(self, param_set: Any = None, add_to_manager: bool = True) -> Record:
        """A new record (optionally with other parameters) that starts from this one's state."""
        new = Record(
            self.manager, self.params if param_set is None else param_set, not add_to_manager
        )
        new.input_records = [self]
        new.state = copy.deepcopy(self.state)
        new.reuse_keys = dict(self.reuse_keys)
        return new

    def get_path(
        self,
        obj_name: str,
        subdir: str | None = None,
        prefix: str | None = None,
        stage_name: str | None = None,
        track: bool = True,
    ) -> str:
        """The cache path of ``obj_name`` for this record; ``track``: copy whatever is there
        into the run folder when the stage ends (store_full)."""
        path = self.manager.get_artifact_path(obj_name, self, subdir, prefix, stage_name)
        if track:
            self.track_path(obj_name, subdir, prefix, path)
        return path

    def get_dir(
        self,
        dir_name_suffix: str,
        subdir: str | None = None,
        prefix: str | None = None,
        stage_name: str | None = None,
        track: bool = True,
    ) -> str:
        path = self.get_path(dir_name_suffix, subdir, prefix, stage_name, track)
        os.makedirs(path, exist_ok=True)
        return path

    def get_record_index(self) -> int:
        for i, record in enumerate(self.manager.records):
            if record is self:
                return i
        return -1

    def get_reference_name(self) -> str:
        name = self.params.name if self.params is not None else "None"
        return f"Record {self.get_record_index()} ({name})"

    def __repr__(self) -> str:
        return f"<Record {self.get_reference_name()} hash={self.get_hash()}>"
