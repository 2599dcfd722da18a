"""Records (one parameter set's state through a chain of stages) and the artifact manager."""

from __future__ import annotations

import copy
import hashlib
import os
import re
from typing import Any

from cfcompile import hashing
from cfcompile.caching import Lazy
from cfcompile.errors import CfcompileError
from cfcompile.reporting import Reportable
from cfcompile.stages import default_engine

_UNSAFE_IN_FILE_NAMES = re.compile(r"[/\\\x00]")
_MAX_NAME_BYTES = 200  # a file name may hold 255 bytes; leave room for ".pkl" and suffixes


def safe_file_name(text: str) -> str:
    """``text`` made usable as one file name inside its folder.

    Reportable file names are built from parameter-set names, which are free text: a ``/``
    would make a subfolder that does not exist (the save fails after the stage already ran),
    ``..`` segments would climb out of the cache. Separators and NUL become ``_``, so do
    leading dots (no hidden files, no ``..``), and over-long names are shortened with a digest
    so two of them stay apart. Ordinary names are returned unchanged, as curifactory writes them.
    """
    name = _UNSAFE_IN_FILE_NAMES.sub("_", text)
    body = name.lstrip(".")
    name = "_" * (len(name) - len(body)) + body
    if len(name.encode()) > _MAX_NAME_BYTES:
        digest = hashlib.md5(text.encode()).hexdigest()[:12]
        head = name.encode()[: _MAX_NAME_BYTES - 13].decode(errors="ignore")
        name = f"{head}_{digest}"
    return name


def _inside(folder: str, path: str) -> bool:
    folder, path = os.path.abspath(folder), os.path.abspath(path)
    return path.startswith(folder.rstrip(os.sep) + os.sep)


class State(dict):
    """A dict that loads ``Lazy`` artifacts from their cache when read."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resolve = True

    def __getitem__(self, key: str) -> Any:
        item = super().__getitem__(key)
        if isinstance(item, Lazy) and self.resolve and item.resolve and item.cacher is not None:
            return item.cacher.load()
        return item

    def raw(self, key: str) -> Any:
        """The stored object itself (a ``Lazy`` stays lazy): how stages pass artifacts on."""
        return dict.__getitem__(self, key)


class ArtifactManager:
    """One experiment run: its records, reportables, cache location and execution engine.

    The engine decides what calling a stage means (run now, record a graph node, ...); it is
    chosen here, once, so that stage decorators never need to know which mode is active.
    """

    def __init__(
        self,
        experiment_name: str = "experiment",
        cache_path: str = "data/cache",
        prefix: str | None = None,
        overwrite: bool = False,
        engine: Any = None,
        run_info: dict | None = None,
    ):
        self.experiment_name = experiment_name
        self.cache_path = cache_path
        self.prefix = prefix
        self.overwrite = overwrite
        self.engine = engine if engine is not None else default_engine()
        self.run_info = dict(run_info or {})
        self.records: list[Record] = []
        self.reportables: list[Reportable] = []
        self.current_stage_name: str | None = None
        self._made_dirs: set[str] = set()

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
    ) -> str:
        base = self.cache_path if subdir is None else os.path.join(self.cache_path, subdir)
        filename = self.get_artifact_filename(obj_name, record, prefix, stage_name)
        path = os.path.join(base, filename)
        if (subdir is not None or os.sep in filename or "\0" in filename) and not _inside(
            self.cache_path, path
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
        if self.params is not None:
            if getattr(self.params, "hash", None) is None:
                self.params.hash = hashing.params_hash(self.params)
            else:  # preset (or set inside run()): it becomes part of every path of this record
                hashing.check_preset_hash(self.params)
        if not hide:
            manager.records.append(self)

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
        return new

    def get_path(
        self,
        obj_name: str,
        subdir: str | None = None,
        prefix: str | None = None,
        stage_name: str | None = None,
        track: bool = True,
    ) -> str:
        return self.manager.get_artifact_path(obj_name, self, subdir, prefix, stage_name)

    def get_dir(
        self,
        dir_name_suffix: str,
        subdir: str | None = None,
        prefix: str | None = None,
        stage_name: str | None = None,
        track: bool = True,
    ) -> str:
        path = self.get_path(dir_name_suffix, subdir, prefix, stage_name)
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
