"""One computation per class of equivalent nodes, copied under every set's own cache names.

Two nodes of one stage are equivalent when the stage declares what it reads
(``@stage(uses=[...])``), those fields have equal hash representations, the stage's code is
the same, and each input comes from an equivalent node (or, for a stage that takes no inputs,
there is none). The first node of a class to run computes and saves as always, then writes an
index entry (``<cache>/.cfcompile-reuse/<key>.json``) naming the files it published; the
others, in any process and on any route, find it under a lock and copy those files under their
own curifactory names. A copy, never a link: curifactory rewrites cache files in place, and an
``--overwrite`` of one set must not change another's. Metadata is written afresh for the
copy (its own set's name and hash) and names the source.

Never merged: aggregates, stages without ``uses=`` (learned read sets are recorded, not yet
acted on), ``reuse=False``, inputs passed as values by ``run()`` or from a stage that is not
merged, outputs that are not one plain file each, and stages with reportables.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cfcompile.core.transaction import Transaction, write_atomic
from cfcompile.errors import StageDefinitionError
from cfcompile.hashing import IGNORED_FIELDS, field_rep
from cfcompile.stages import StageSpec

FICLONE = 0x40049409
"""Linux's ioctl that shares a file's blocks (btrfs, XFS): a copy that costs no space."""
INDEX_DIR = ".cfcompile-reuse"
COPIES = "copies"
"""Folder of the index entries, inside the cache folder (curifactory never lists it)."""


class UnknownParameterError(StageDefinitionError):
    """A ``uses=[...]`` path that the parameter set does not have."""


def reusable(spec: StageSpec) -> bool:
    """Whether nodes of this stage may be merged at all (declared, not opted out, no aggregate)."""
    return spec.uses is not None and spec.reuse and not spec.is_aggregate and bool(spec.outputs)


def field_value(params: Any, path: str, stage: str) -> tuple[Any, str]:
    """The object holding the path's last field, and that field's name."""
    obj, parts = params, path.split(".")
    for i, part in enumerate(parts):
        if part not in getattr(type(obj), "__dataclass_fields__", {}):
            where = ".".join(parts[:i]) or "the parameter set"
            raise UnknownParameterError(
                f"stage '{stage}': uses=[... '{path}' ...] names a field that {where} "
                f"({type(obj).__name__}) does not have; fix the path in the stage's uses=[...]"
            )
        if i < len(parts) - 1:
            obj = getattr(obj, part)
    return obj, parts[-1]


def representation(params: Any, path: str, stage: str) -> Any:
    """A field's hash representation (curifactory's, so a custom one counts); the fields the
    hash skips (``name``, ``hash``) by their ``repr``: a stage that reads its set's name can
    only be merged with sets of the same name."""
    owner, last = field_value(params, path, stage)
    if last in IGNORED_FIELDS:
        return repr(getattr(owner, last))
    return field_rep(owner, last)[1]


def reads_digest(params: Any, paths: list[str], stage: str) -> str:
    """md5 of the read fields' representations, in path order."""
    reps = [[p, representation(params, p, stage)] for p in sorted(paths)]
    return hashlib.md5(json.dumps(reps, default=repr).encode()).hexdigest()


def node_key(
    spec: StageSpec, code: str | None, params: Any, input_keys: list[str | None]
) -> str | None:
    """The class of a node; None when it can be merged with nothing."""
    if not reusable(spec) or code is None or params is None or None in input_keys:
        return None
    body = [spec.name, code, reads_digest(params, spec.uses, spec.name), sorted(input_keys)]
    return hashlib.md5(json.dumps(body).encode()).hexdigest()


def index_path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, INDEX_DIR, key + ".json")


@contextmanager
def class_lock(cache_dir: str, key: str) -> Iterator[None]:
    """Held while a node of the class computes or copies, so the second waits for the first
    instead of computing the same thing beside it."""
    folder = os.path.join(cache_dir, INDEX_DIR)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, key + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_source(cache_dir: str, key: str) -> dict | None:
    """The index entry of the class, if its files are all still there."""
    try:
        with open(index_path(cache_dir, key)) as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    files = entry.get("files")
    if not isinstance(files, list) or not all(isinstance(p, str) for p in files):
        return None
    if not all(os.path.isfile(p) and os.path.isfile(metadata_path(p)) for p in files):
        return None
    return entry


def write_source(cache_dir: str, key: str, published: list[str], record: Any, paths: list[str]):
    """Name the files this node published as its class's source, when each output is one
    plain file with its metadata (anything else is left to compute)."""
    if not one_file_each(published, paths):
        return
    entry = {
        "files": paths,
        "params_hash": record.get_hash(),
        "params_name": record.params.name if record.params is not None else None,
        "record_name": record.get_reference_name(),
    }
    write_atomic(index_path(cache_dir, key), json.dumps(entry))


def metadata_path(path: str) -> str:
    return os.path.splitext(path)[0] + "_metadata.json"


def one_file_each(published: list[str], paths: list[str]) -> bool:
    """Whether a save published exactly one plain file and its metadata per output."""
    metas = {metadata_path(p) for p in paths}
    return sorted(published) == sorted([*paths, *metas]) and all(map(os.path.isfile, paths))


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
    spec: StageSpec, record: Any, cachers: list, source: dict, reads: list[str]
) -> list[str]:
    """Publish the source's files under this node's own names, with fresh metadata."""
    txn = Transaction()
    try:
        for cacher, src in zip(cachers, source["files"], strict=True):
            cacher.transaction = txn
            copy_file(src, cacher.get_path())
            with open(metadata_path(src)) as f:
                theirs = json.load(f)
            meta = cacher.collect_metadata()
            for key in ("preview", "timing", "stage_code"):
                if key in theirs:
                    meta[key] = theirs[key]
            meta["params_read"] = theirs.get("params_read")
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
