"""The cacher protocol every cacher builds on (``Cacheable``), and ``Lazy`` outputs.

Saving is transactional (a ``Staging``: ``core.transaction.Transaction``): inside a save,
``get_path`` points into a hidden staging folder, and nothing is renamed into place until every
output succeeded. Every output a stage saves gets its ``..._metadata.json`` in the same
transaction, so an output whose metadata is missing did not come from a finished save (an
interrupted copy, a foreign run): ``check`` and the planner treat it as incomplete rather than
trust it.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from cfcompile.hashing import string_representations


class Staging(Protocol):
    """Where a stage's save writes before everything is published together: what a cacher
    asks of ``core.transaction.Transaction`` (which lives in a layer above the cachers)."""

    def stage_path(self, final: str) -> str: ...


TIMESTAMP_FORMAT = "%Y-%m-%d-T%H%M%S"
METADATA_SUFFIX = "_metadata.json"


class Lazy:
    """An output name whose value is dropped from memory once cached and reloaded on access."""

    def __init__(self, name: str, resolve: bool = True):
        self.name = name
        self.cacher: Cacheable | None = None
        self.resolve = resolve

    def load(self) -> Any:
        return self.cacher.load()

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f'Lazy("{self.name}")'


class State(dict):
    """A record's state: a dict that loads ``Lazy`` artifacts from their cache when read
    (``state.resolve = False`` hands out the ``Lazy`` itself)."""

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


class Cacheable:
    """Base cacher: subclasses implement ``save(obj)`` and ``load()`` against ``get_path()``.

    The path is ``{cache}/{prefix}_{record hash}_{stage}_{name}{extension}``, exactly as
    curifactory builds it, so caches are interchangeable between the two tools.
    """

    def __init__(
        self,
        path_override: str | None = None,
        name: str | None = None,
        subdir: str | None = None,
        prefix: str | None = None,
        extension: str | None = None,
        record: Any = None,  # a cfcompile.record.Record: its manager, parameters and hash
        track: bool = True,
    ):
        self.path_override = path_override
        self.name = name
        self.subdir = subdir
        self.prefix = prefix
        self.extension = extension
        self.record = None
        self.track = track
        self.cache_paths: list[str] = []
        self.metadata: dict | None = None
        self.extra_metadata: dict = {}
        self.stage: str | None = None
        self.transaction: Staging | None = None
        self.fixed_path: str | None = None  # set by the job runtime: the compiled path
        if record is not None:
            self.set_record(record)

    # -- paths -----------------------------------------------------------------------------
    def _suffix(self, path: str, suffix: str | None, add_extension: bool = True) -> str:
        if suffix is not None:
            return suffix
        if self.extension and add_extension and not path.endswith(self.extension):
            return self.extension
        return ""

    def _template(self, path: str) -> str:
        if self.record is None:
            return path
        manager = self.record.manager
        name = "None" if self.name is None else self.name
        return path.format(
            hash=self.record.get_hash(),
            cache=manager.cache_path.rstrip("/"),
            stage=self.stage,
            name=name,
            params=self.record.params,
            experiment=manager.experiment_name,
            artifact_filename=manager.get_artifact_filename(
                name + self._suffix(name, None), self.record, stage_name=self.stage
            ),
        )

    def final_path(self, suffix: str | None = None) -> str:
        """Where the artifact lives once published (never a staging path)."""
        if getattr(self, "fixed_path", None) is not None:
            if suffix is None:
                return self.fixed_path
            return self._with_suffix(self.fixed_path, suffix)
        if self.path_override is not None:
            path = self._template(self.path_override)
            if self.extension and suffix is not None and path.endswith(self.extension):
                path = path[: path.rindex(self.extension)]
            return path + self._suffix(path, suffix, add_extension=False)
        if self.record is None:
            raise RuntimeError(
                f"cacher {type(self).__name__} has neither a record nor a path_override: "
                "pass a path, or set cacher.record"
            )
        if self.name is None:
            raise RuntimeError(f"cacher {type(self).__name__} has no name and no path_override")
        return self.record.manager.get_artifact_path(
            self.name + self._suffix(self.name, suffix),
            self.record,
            subdir=self.subdir,
            prefix=self.prefix,
            stage_name=self.stage,
        )

    def _replaced_extension(self) -> str:
        """The extension a suffix replaces in this cacher's path ("" when it is appended).

        The rule of ``final_path``, written once so that a compiled path gives the same
        metadata file as the eager engine: the extension is replaced, except when a plain output
        name already ends with it (``outputs=["model.pkl"]``), where curifactory appends the
        suffix to the full name (``..._model.pkl_metadata.json``).
        """
        ext = self.extension or ""
        if ext and self.path_override is None and (self.name or "").endswith(ext):
            return ""
        return ext

    def _with_suffix(self, path: str, suffix: str) -> str:
        """``path`` (this cacher's artifact) with ``suffix`` in place of its extension."""
        ext = self._replaced_extension()
        if ext and path.endswith(ext):
            path = path[: -len(ext)]
        return path + suffix

    def metadata_namer(self) -> Callable[[str], str] | None:
        """A function from this cacher's artifact path to where a stage save puts its metadata.

        For the planner, which names the metadata of every output of a stage from one cacher
        and must not touch the disk. None when a subclass changes how paths or metadata are
        written: then nothing outside the cacher can know the name, and the artifact's
        presence alone decides, as in curifactory.
        """
        if not self._standard_layout():
            return None
        ext = self._replaced_extension()
        if not ext:
            return lambda path: path + METADATA_SUFFIX
        cut = len(ext)
        return lambda path: (path[:-cut] if path.endswith(ext) else path) + METADATA_SUFFIX

    def _standard_layout(self) -> bool:
        cls = type(self)
        return all(getattr(cls, m) is getattr(Cacheable, m) for m in _PATH_METHODS)

    def get_path(self, suffix: str | None = None) -> str:
        """The path to read or write; inside a save it points into the stage's staging area."""
        path = self.final_path(suffix)
        if path not in self.cache_paths:
            self.cache_paths.append(path)
        if self.track and self.path_override is None and self.fixed_path is None:
            self._track(path, suffix)
        if self.transaction is not None:
            return self.transaction.stage_path(path)
        return path

    def _track(self, path: str, suffix: str | None) -> None:
        """Tell the record that the running stage uses ``path`` (its run folder copies it at
        the stage's end with store_full); a path_override is the caller's own file."""
        track = getattr(self.record, "track_path", None)
        if track is not None:
            track(self.name + self._suffix(self.name, suffix), self.subdir, self.prefix, path)

    def get_dir(self, suffix: str | None = None) -> str:
        path = self.get_path(suffix or "")
        os.makedirs(path, exist_ok=True)
        return path

    def set_record(self, record: Any) -> None:
        self.record = record

    # -- metadata --------------------------------------------------------------------------
    def collect_metadata(self) -> dict:
        """curifactory's metadata keys, plus the run information the manager carries."""
        record = self.record
        run_info = dict(getattr(record.manager, "run_info", None) or {})
        run_info.pop("status", None)
        params = record.params
        self.metadata = dict(
            artifact_generated=datetime.now().strftime(TIMESTAMP_FORMAT),
            params_hash=record.get_hash(),
            params_name=params.name if params is not None else None,
            record_name=record.get_reference_name(),
            stage=self.stage if self.stage is not None else record.manager.current_stage_name,
            artifact_name=self.name,
            cacher_type=str(type(self)),
            record_prior_stages=record.stages[:-1],
            prior_records=[r.get_reference_name() for r in record.input_records],
            params=string_representations(params) if params is not None else None,
            extra=self.extra_metadata,
            manager_run_info=run_info,
        )
        return self.metadata

    def save_metadata(self) -> str:
        path = self.get_path(METADATA_SUFFIX)
        if self.metadata is None and self.record is not None:
            self.collect_metadata()  # a cacher given a record by hand: curifactory collects then
        data = self.metadata if self.metadata is not None else {"extra": self.extra_metadata}
        data.setdefault("extra", {}).update(self.extra_metadata)
        with open(path, "w") as outfile:
            json.dump(data, outfile, indent=2, default=str)
        return path

    def load_metadata(self) -> dict | None:
        path = self.get_path(METADATA_SUFFIX)
        if os.path.exists(path):
            with open(path) as infile:
                self.metadata = json.load(infile)
            self.extra_metadata = self.metadata.get("extra", {})
        return self.metadata

    # -- the cacher protocol ---------------------------------------------------------------
    def check(self) -> bool:
        """True when a finished artifact exists and the parameters do not ask to overwrite.

        Finished means the artifact and, for a cacher a stage saves (``stage`` is set), its
        metadata: a stage save writes both in one transaction, so an artifact alone is half of
        an interrupted copy or a foreign run, and loading it would fail every later stage (a
        truncated pickle) or feed it wrong data. A cacher used by hand outside a stage writes
        no metadata and keeps curifactory's rule (the artifact exists).
        """
        path = self.final_path()
        if not os.path.exists(path):
            return False
        if self.stage is not None and self._standard_layout():
            if not os.path.exists(self.final_path(METADATA_SUFFIX)):
                return False
        record = self.record
        if record is None:
            return True
        if record.params is None:  # only an aggregate over some records reuses (curifactory)
            return bool(record.is_aggregate and record.input_records) and not any(
                r.params is not None and r.params.overwrite for r in record.input_records
            )
        return not record.params.overwrite

    def load(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement load()")

    def save(self, obj: Any) -> str:
        raise NotImplementedError(f"{type(self).__name__} does not implement save()")


_PATH_METHODS = ("final_path", "get_path", "save_metadata", "_with_suffix", "_replaced_extension")
"""Overriding any of these moves a cacher's metadata where ``metadata_namer`` cannot see."""


def instantiate(cacher: type[Cacheable] | Cacheable) -> Cacheable:
    """A fresh cacher per use: classes are called, instances deep-copied (curifactory's rule)."""
    if isinstance(cacher, type):
        return cacher()
    return copy.deepcopy(cacher)
