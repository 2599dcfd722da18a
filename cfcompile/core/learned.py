"""Learned reuse classes (``--reuse``): stages that declare nothing, merged by what they read.

A deterministic stage that read the fields S of one set reads exactly S again for any set that
agrees with it on S: every branch it took was decided by a value it read. So a node that
computed leaves an entry saying which fields it read and a digest of their values, and a
later node of the same base (stage, code identity, parameter class, input classes) whose own
values of those fields have that digest copies its files. The entries live beside the
declared index, one small file each, so that writing one is a rename and never a
read-modify-write of a shared list:

    <cache>/.cfcompile-reuse/<base>/fields/<F>.json          the field list F names
    <cache>/.cfcompile-reuse/<base>/entries/<F>-<digest>.json  a node that read F
    <cache>/.cfcompile-reuse/<base>/whole.json               why the last node is merged with none

A node whose read set is not known whole writes no entry: it used the whole object, an
output held the parameters, the process forked during the call, a read came after it
returned, or a value it read has no faithful encoding (``core.tokens``). Entries are written
and read only in ``--reuse`` runs: a learned set cannot tell a deterministic stage from one
that draws from an unseeded generator, so only a researcher who asks gets merges by it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cfcompile.core.reuse_store import INDEX_DIR, source_entry, source_files
from cfcompile.core.tokens import Unfaithful, reads_digest
from cfcompile.core.transaction import write_atomic


def _folder(cache_dir: str, base: str) -> str:
    return os.path.join(cache_dir, INDEX_DIR, base)


def _fields_id(fields: list[str]) -> str:
    return hashlib.md5(json.dumps(fields).encode()).hexdigest()[:16]


def class_of(base: str, fields: list[str], digest: str) -> str:
    return hashlib.md5(json.dumps([base, fields, digest]).encode()).hexdigest()


def find(cache_dir: str, base: str, params: Any, stage: str) -> tuple[dict, str] | None:
    """The earlier node whose read fields have this set's values, and the class they make."""
    folder = _folder(cache_dir, base)
    try:
        groups = sorted(os.listdir(os.path.join(folder, "fields")))
    except OSError:
        return None
    for name in groups:
        try:
            with open(os.path.join(folder, "fields", name)) as f:
                fields = json.load(f)
            digest = reads_digest(params, fields, stage)
            with open(os.path.join(folder, "entries", f"{name[:-5]}-{digest}.json")) as f:
                entry = json.load(f)
        except Exception:  # no such entry, a field this set lacks or cannot encode, a torn
            continue  # file: not this one
        if not isinstance(entry, dict) or entry.get("fields") != fields:
            continue
        if source_files(cache_dir, entry) is not None:
            return entry, class_of(base, fields, digest)
    return None


def own_class(base: str, meta: Any) -> str | None:
    """The class of a node from what its metadata says it read (a node cached by an earlier
    run, which may have written no entry)."""
    read = meta.get("params_read") if isinstance(meta, dict) else None
    if not isinstance(read, dict) or read.get("whole") or read.get("incomplete"):
        return None
    fields, digest = read.get("fields"), read.get("digest")
    if not isinstance(fields, list) or not isinstance(digest, str):
        return None
    return class_of(base, fields, digest)


def record(
    cache_dir: str,
    base: str,
    reads: Any,
    published: list[str],
    rec: Any,
    cachers: list,
    code: str,
) -> str | None:
    """After a node computed: its class, with an entry others can copy; or why not."""
    if reads is None:
        return None
    folder = _folder(cache_dir, base)
    fields = reads.depends()
    why = None if fields is not None else (reads.everything or reads.incomplete or "*")
    if why is None and reads.calls:  # a copy would leave the inner stage's files out
        why = f"it calls stage '{reads.calls[0]}' in its body"
    digest = None
    if why is None:
        try:
            digest = reads_digest(rec.params, fields, "")
        except Unfaithful as exc:
            why = str(exc)
    if why is not None:
        os.makedirs(folder, exist_ok=True)
        name = rec.params.name if rec.params is not None else None
        write_atomic(os.path.join(folder, "whole.json"), json.dumps({"whole": why, "set": name}))
        return None
    entry = source_entry(cache_dir, published, rec, cachers, code)
    if entry is None:  # outputs that are not one plain file each: nothing to copy from
        return class_of(base, fields, digest)
    fid = _fields_id(fields)
    os.makedirs(os.path.join(folder, "fields"), exist_ok=True)
    os.makedirs(os.path.join(folder, "entries"), exist_ok=True)
    group = os.path.join(folder, "fields", fid + ".json")
    if not os.path.exists(group):
        write_atomic(group, json.dumps(fields))
    entry.update(fields=fields, digest=digest, **{"class": class_of(base, fields, digest)})
    write_atomic(os.path.join(folder, "entries", f"{fid}-{digest}.json"), json.dumps(entry))
    return class_of(base, fields, digest)


def whole_use(cache_dir: str, base: str) -> str | None:
    """Why the last node of this base to compute is merged with none (``--dry-run``)."""
    try:
        with open(os.path.join(_folder(cache_dir, base), "whole.json")) as f:
            return str(json.load(f)["whole"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
