"""One computation per class of equivalent nodes, copied under every set's own cache names.

Two nodes of one stage are equivalent when the stage declares what it reads
(``@stage(uses=[...])``), those fields have equal types and representations, the stage is the
same (import path, outputs, cachers, source, and the source of its module and the project
modules that module imports), and each input comes from an equivalent node. The first node of
a class to run computes and saves as always, then writes an index entry
(``<cache>/.cfcompile-reuse/<key>.json``) naming the files it published, relative to the cache
folder, with the code that wrote them; the others, in any process and on any route, find it
under a lock and copy those files under their own curifactory names. A copy, never a link:
curifactory rewrites cache files in place, and an ``--overwrite`` of one set must not change
another's. An entry counts only while its files are plain files inside the cache folder whose
metadata still names its set and its code. Metadata is written afresh for the copy (its own
set's name and hash) and names the source.

Never merged: aggregates, stages without ``uses=`` (``core.learned`` has ``--reuse``),
``reuse=False``, values passed by ``run()`` (positional or keyword), inputs from a stage that is
not merged or was cached by other code, outputs that are not one plain file each, and stages
with reportables.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import is_dataclass
from typing import Any

from cfcompile.caching.base import METADATA_SUFFIX
from cfcompile.core.transaction import Transaction, write_atomic
from cfcompile.errors import StageDefinitionError
from cfcompile.hashing import IGNORED_FIELDS, field_rep
from cfcompile.stages import StageSpec

log = logging.getLogger("cfcompile")

FICLONE = 0x40049409
"""Linux's ioctl that shares a file's blocks (btrfs, XFS): a copy that costs no space."""
INDEX_DIR = ".cfcompile-reuse"
"""Folder of the index entries, inside the cache folder (curifactory never lists it)."""
COPIES = "copies"


class UnknownParameterError(StageDefinitionError):
    """A ``uses=[...]`` path that the parameter set does not have."""


def reusable(spec: StageSpec) -> bool:
    """Whether nodes of this stage may be merged at all (declared, not opted out, no aggregate)."""
    return spec.uses is not None and spec.reuse and not spec.is_aggregate and bool(spec.outputs)


# -- classes ---------------------------------------------------------------------------------
def field_value(params: Any, path: str, stage: str) -> tuple[Any, str | None]:
    """The object holding the path's last field and that field's name; a None (or any
    non-dataclass) on the way ends the walk there, with no name: ``model.hidden`` of a set
    whose ``model`` is None is represented by that None."""
    obj, parts = params, path.split(".")
    for i, part in enumerate(parts):
        if not is_dataclass(obj) or isinstance(obj, type):
            return obj, None
        if part not in obj.__dataclass_fields__:
            where = ".".join(parts[:i]) or "the parameter set"
            raise UnknownParameterError(
                f"stage '{stage}': uses=[... '{path}' ...] names a field that {where} "
                f"({type(obj).__name__}) does not have; fix the path in the stage's uses=[...]"
            )
        if i < len(parts) - 1:
            obj = getattr(obj, part)
    return obj, parts[-1]


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def representation(params: Any, path: str, stage: str) -> Any:
    """What two sets must share for a field to count as equal: its type and curifactory's
    hash representation (so a custom one counts), or its ``repr`` where the hash skips the
    field (``name``, ``hash``, a representation set to None) or it is a function (a
    qualname is not enough). A stage that reads its set's name merges only with that name."""
    owner, last = field_value(params, path, stage)
    if last is None:
        return ["<not a dataclass>", _type_name(owner), repr(owner)]
    value = getattr(owner, last)
    rep = None if last in IGNORED_FIELDS else field_rep(owner, last)[1]
    if rep is None or callable(value):
        rep = repr(value)
    return [_type_name(value), rep]


def reads_digest(params: Any, paths: list[str], stage: str) -> str:
    """md5 of the read fields' representations, in path order (``repr``: a tuple and a list
    differ)."""
    reps = [[p, representation(params, p, stage)] for p in sorted(paths)]
    return hashlib.md5(repr(reps).encode()).hexdigest()


def stage_identity(spec: StageSpec, code: str) -> list:
    """What else two nodes must share: the function by import path, its outputs and cachers,
    its source, and the source of its module and the project modules that module imports
    (constants and helpers live there). Computed once per stage and code."""
    cached = spec.__dict__.get("_identity")
    if cached is None or cached[0] != code:
        cachers = [c.__name__ if isinstance(c, type) else _type_name(c) for c in spec.cachers or []]
        body = [spec.import_path, spec.output_names, cachers, code, _module_digest(spec.func)]
        cached = spec.__dict__["_identity"] = (code, body)
    return cached[1]


def _module_digest(func: Any) -> str:
    """md5 of the source files of the function's module and of the modules its globals hold,
    leaving out installed packages and cfcompile itself."""
    installed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    ours = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    files = set()
    for value in [func, *getattr(func, "__globals__", {}).values()]:
        module = value if inspect.ismodule(value) else inspect.getmodule(value)
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if real.startswith(ours + os.sep) or any(real.startswith(p + os.sep) for p in installed):
            continue
        files.add(real)
    digest = hashlib.md5()
    for path in sorted(files):
        try:
            with open(path, "rb") as f:
                digest.update(path.encode() + b"\0" + f.read())
        except OSError:
            digest.update(path.encode() + b"\0?")
    return digest.hexdigest()


def node_key(
    spec: StageSpec, code: str | None, params: Any, input_keys: list[str | None]
) -> str | None:
    """The class of a node; None when it can be merged with nothing."""
    if not reusable(spec) or code is None or params is None or None in input_keys:
        return None
    body = [stage_identity(spec, code), reads_digest(params, spec.uses, spec.name)]
    body.append(sorted(input_keys))
    return hashlib.md5(repr(body).encode()).hexdigest()


def written_by(cacher: Any, code: str | None) -> bool:
    """Whether an output's metadata says the current code wrote it (a node loaded from an
    older version's cache must not count as this version's class); True when there is none
    yet (the node is about to compute)."""
    meta = getattr(cacher, "metadata", None)
    if meta is None:
        try:
            with open(cacher.final_path(METADATA_SUFFIX)) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return True
    return isinstance(meta, dict) and meta.get("stage_code") == code


# -- the index -------------------------------------------------------------------------------
def index_path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, INDEX_DIR, key + ".json")


_NO_FLOCK: list[str] = []


@contextmanager
def class_lock(cache_dir: str, key: str) -> Iterator[None]:
    """Held while a node of the class computes or copies, so the second waits for the first
    instead of computing the same thing beside it. A file system without flock (Lustre
    without ``-o flock``, NFS without lockd) gets no lock: nodes of a class may then compute
    side by side, which costs time and never a value (an entry names only finished files)."""
    folder = os.path.join(cache_dir, INDEX_DIR)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, key + ".lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as exc:
            if not _NO_FLOCK:
                _NO_FLOCK.append(str(exc))
                log.warning("reuse: no file lock in %s (%s); nodes may compute twice", folder, exc)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def source_files(cache_dir: str, entry: dict) -> list[tuple[str, str]] | None:
    """The entry's (file, metadata) pairs, if they are all still the entry's: plain files
    inside the cache folder (never a symlink, never outside it) whose metadata names the
    entry's set and code. Anything else: None, and the node computes."""
    root = os.path.realpath(cache_dir)
    files, metas = entry.get("files"), entry.get("metas")
    if not isinstance(files, list) or not isinstance(metas, list) or len(files) != len(metas):
        return None
    pairs = []
    for rel, rel_meta in zip(files, metas, strict=True):
        if not isinstance(rel, str) or not isinstance(rel_meta, str):
            return None
        pair = (os.path.join(root, rel), os.path.join(root, rel_meta))
        for path in pair:
            if os.path.islink(path) or not os.path.isfile(path):
                return None
            if os.path.commonpath([root, os.path.realpath(path)]) != root:
                return None
        try:
            with open(pair[1]) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("params_hash") != entry.get("params_hash"):
            return None
        if meta.get("stage_code") != entry.get("code"):
            return None  # rewritten since, by other code
        pairs.append(pair)
    return pairs


def find_source(cache_dir: str, key: str) -> dict | None:
    """The index entry of the class, if its files are all still its own."""
    try:
        with open(index_path(cache_dir, key)) as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or source_files(cache_dir, entry) is None:
        return None
    return entry


def source_entry(
    cache_dir: str, published: list[str], record: Any, cachers: list, code: str | None
) -> dict | None:
    """What an index entry says of a node that just saved, or None when its outputs are not
    one plain file and its metadata each (folders, reportables, extra files)."""
    paths = [c.final_path() for c in cachers]
    metas = [c.final_path(METADATA_SUFFIX) for c in cachers]
    if sorted(published) != sorted([*paths, *metas]) or not all(map(os.path.isfile, paths)):
        return None
    root = os.path.realpath(cache_dir)
    rel = [os.path.relpath(os.path.realpath(p), root) for p in [*paths, *metas]]
    if any(r.startswith("..") for r in rel):
        return None
    return {
        "files": rel[: len(paths)],
        "metas": rel[len(paths) :],
        "code": code,
        "params_hash": record.get_hash(),
        "params_name": record.params.name if record.params is not None else None,
    }


def write_source(
    cache_dir: str, key: str, published: list[str], record: Any, cachers: list, code: str | None
) -> None:
    """Name the files this node published as its class's source."""
    entry = source_entry(cache_dir, published, record, cachers, code)
    if entry is not None:
        write_atomic(index_path(cache_dir, key), json.dumps(entry))


def once_per_class(
    cache_dir: str,
    key: str,
    spec: StageSpec,
    record: Any,
    cachers: list,
    compute: Callable[[], list[str]],
    force: bool,
    code: str | None,
) -> dict | None:
    """The first node of a class computes (``compute`` returns what it published) and becomes
    the source; the others, waiting on the class's lock, copy its files. A forced node
    (``--overwrite``) computes its own and becomes the source. Returns the source copied from,
    or None when this node computed. Shared by the eager engine and the job runtime."""
    with class_lock(cache_dir, key):
        source = None if force else find_source(cache_dir, key)
        if source is not None:
            copy_outputs(spec, record, cachers, source, spec.uses, cache_dir)
            return source
        published = compute()
        write_source(cache_dir, key, published, record, cachers, code)
    return None


# -- copies ----------------------------------------------------------------------------------
def copy_file(src: str, dst: str) -> None:
    """A reflink where the file system can (one ioctl), else a kernel-side copy."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)  # sendfile on Linux: the kernel copies, Python never reads


def copy_outputs(
    spec: StageSpec, record: Any, cachers: list, source: dict, reads: list[str], cache_dir: str
) -> list[str]:
    """Publish the source's files under this node's own names, with fresh metadata."""
    pairs = source_files(cache_dir, source)
    if pairs is None or len(pairs) != len(cachers):
        raise OSError(f"stage '{spec.name}': the outputs it was to reuse changed meanwhile")
    txn = Transaction()
    try:
        for cacher, (src, src_meta) in zip(cachers, pairs, strict=True):
            cacher.transaction = txn
            copy_file(src, cacher.get_path())
            with open(src_meta) as f:
                theirs = json.load(f)
            meta = cacher.collect_metadata()
            for key in ("preview", "timing", "stage_code", "params_read"):
                if key in theirs:
                    meta[key] = theirs[key]
            meta["extra"] = dict(theirs.get("extra") or {})  # a cacher's own (format, args)
            meta["reused_from"] = {k: source.get(k) for k in ("params_hash", "params_name")}
            meta["reused_from"]["reads"] = reads
            cacher.save_metadata()
        published = txn.commit()
    except BaseException:
        txn.abort()
        raise
    finally:
        for cacher in cachers:
            cacher.transaction = None
    mark = copy_mark(cachers[0].get_path())
    os.makedirs(os.path.dirname(mark), exist_ok=True)
    write_atomic(mark, json.dumps({"from": source.get("params_name")}))
    return published


def copy_mark(first_output: str) -> str:
    """The file saying a node's outputs are a copy (``--status`` lists its folder once)."""
    folder, name = os.path.split(first_output)
    return os.path.join(folder, INDEX_DIR, COPIES, name)


def forget_copy(first_output: str) -> None:
    """A node that computed its own outputs is no copy any more (one failed unlink when it
    never was one)."""
    try:
        os.remove(copy_mark(first_output))
    except OSError:
        pass
