"""Where reuse keeps what it found, in the cache folder: index entries, the class locks, copies.

The first node of a class to run computes and saves as always, then writes an index entry
(``<cache>/.cfcompile-reuse/<key>.json``) naming the files it published, relative to the cache
folder, with the code identity that wrote them; the others, in any process and on any route,
find it under the class's lock and copy those files under their own curifactory names. A
copy, never a link: curifactory rewrites cache files in place, and an ``--overwrite`` of one
set must not change another's. An entry counts only while its files are plain files inside
the cache folder whose metadata still names its set and its code identity. Metadata is
written afresh for the copy (its own set's name and hash) and names the source.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cfcompile.caching.base import METADATA_SUFFIX
from cfcompile.core.transaction import Transaction, write_atomic

log = logging.getLogger("cfcompile")

FICLONE = 0x40049409
"""Linux's ioctl that shares a file's blocks (btrfs, XFS): a copy that costs no space."""
INDEX_DIR = ".cfcompile-reuse"
"""Folder of the index entries, inside the cache folder (curifactory never lists it)."""
COPIES = "copies"
CLASS = "reuse_class"
"""The metadata key naming the class a node computed or copied for (``core.reuse``)."""
BASE = "reuse_base"
"""What a learned node's class is made from (with the fields it read); not kept in metadata."""
IDENTITY = "code_identity"
"""The metadata key naming the code identity that wrote an output (``StageSpec.identity``)."""


def written_by(meta: Any, identity: str) -> bool:
    """Whether an output's metadata says the current code (its identity: the stage's source
    and every project file it can reach) wrote it."""
    return isinstance(meta, dict) and meta.get(IDENTITY) == identity


def read_metadata(path: str) -> dict | None:
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


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
    entry's set and code identity. Anything else: None, and the node computes."""
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
        meta = read_metadata(pair[1])
        if meta is None or meta.get("params_hash") != entry.get("params_hash"):
            return None
        if not written_by(meta, entry.get("code")):
            return None  # rewritten since, by other code
        if entry.get("class") is None or meta.get(CLASS) != entry.get("class"):
            return None  # recomputed since for another class (an input changed: --overwrite)
        pairs.append(pair)
    return pairs


def find_entry(cache_dir: str, key: str, identity: str) -> dict | None:
    """The index entry of the class, if the current code identity wrote it and its files
    are all still its own."""
    try:
        with open(index_path(cache_dir, key)) as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("code") != identity:
        return None
    return entry if source_files(cache_dir, entry) is not None else None


def source_entry(
    cache_dir: str, published: list[str], record: Any, cachers: list, code: str
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


def write_entry(cache_dir: str, key: str, entry: dict) -> None:
    write_atomic(index_path(cache_dir, key), json.dumps(entry))


def not_plain(cache_dir: str, key: str, why: str) -> None:
    """Say, for the next ``--dry-run``, that this class's source published something besides
    one plain file per output, so its nodes each compute."""
    write_atomic(index_path(cache_dir, key), json.dumps({"never": why}))


def never_reason(cache_dir: str, key: str) -> str | None:
    try:
        with open(index_path(cache_dir, key)) as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None
    return entry.get("never") if isinstance(entry, dict) else None


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
    stage: str,
    record: Any,
    cachers: list,
    source: dict,
    reads: list[str],
    cache_dir: str,
    key: str,
) -> list[str]:
    """Publish the source's files under this node's own names, with fresh metadata."""
    pairs = source_files(cache_dir, source)
    if pairs is None or len(pairs) != len(cachers):
        raise OSError(f"stage '{stage}': the outputs it was to reuse changed meanwhile")
    txn = Transaction()
    try:
        for cacher, (src, src_meta) in zip(cachers, pairs, strict=True):
            cacher.transaction = txn
            copy_file(src, cacher.get_path())
            with open(src_meta) as f:
                theirs = json.load(f)
            meta = cacher.collect_metadata()
            for name in ("preview", "timing", "stage_code", IDENTITY, "params_read"):
                if name in theirs:
                    meta[name] = theirs[name]
            meta["extra"] = dict(theirs.get("extra") or {})  # a cacher's own (format, args)
            meta["reused_from"] = {k: source.get(k) for k in ("params_hash", "params_name")}
            meta["reused_from"]["reads"] = reads
            meta[CLASS] = key
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
