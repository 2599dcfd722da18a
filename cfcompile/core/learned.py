"""Learned reuse classes (``--reuse``): stages that declare nothing, merged by what they read.

A deterministic stage that read the fields S of one set reads exactly S again for any set that
agrees with it on S: every branch it took was decided by a value it read. So a node that
computed leaves an entry saying which fields it read and a digest of their values, and a
later node of the same stage, code and input classes whose own values of those fields have
that digest copies its files. The entries live beside the declared index, one small file
each, so that writing one is a rename and never a read-modify-write of a shared list:

    <cache>/.cfcompile-reuse/<base>/fields/<F>.json          the field list F names
    <cache>/.cfcompile-reuse/<base>/entries/<F>-<digest>.json  a node that read F
    <cache>/.cfcompile-reuse/<base>/whole.json               the last use that saw every field

Entries are written and read only in ``--reuse`` runs: a learned set cannot tell a
deterministic stage from one that draws from an unseeded generator, so only a researcher who
asks gets merges by it, and a plain run adds no file to the cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from cfcompile.core.reuse import (
    INDEX_DIR,
    copy_outputs,
    reads_digest,
    source_entry,
    source_files,
    stage_identity,
)
from cfcompile.core.transaction import write_atomic
from cfcompile.stages import StageSpec


def learned_base(spec: StageSpec, code: str | None, input_keys: list[str | None]) -> str | None:
    """The stage, its code and its inputs' classes; None when it is never merged by reads."""
    if spec.uses is not None or not spec.reuse or spec.is_aggregate or not spec.outputs:
        return None
    if code is None or None in input_keys:
        return None
    body = repr(["learned", stage_identity(spec, code), sorted(input_keys)])
    return hashlib.md5(body.encode()).hexdigest()


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
        except Exception:  # no such entry, a field this set lacks, a torn file: not this one
            continue
        if not isinstance(entry, dict) or entry.get("fields") != fields:
            continue
        if source_files(cache_dir, entry) is not None:
            return entry, class_of(base, fields, digest)
    return None


def record(
    cache_dir: str,
    base: str,
    read: dict | None,
    published: list[str],
    rec: Any,
    cachers: list,
    code: str | None,
) -> str | None:
    """After a node computed: its entry (and class), or why it cannot be merged."""
    if not read:
        return None
    folder = _folder(cache_dir, base)
    name = rec.params.name if rec.params is not None else None
    whole = read.get("whole") or (None if read.get("digest") else "no digest of its reads")
    entry = source_entry(cache_dir, published, rec, cachers, code)
    if whole is None and entry is None:
        whole = "its outputs are not one plain file each"
    if whole is not None:
        os.makedirs(folder, exist_ok=True)
        write_atomic(os.path.join(folder, "whole.json"), json.dumps({"whole": whole, "set": name}))
        return None
    fields, digest = read["fields"], read["digest"]
    fid = _fields_id(fields)
    os.makedirs(os.path.join(folder, "fields"), exist_ok=True)
    os.makedirs(os.path.join(folder, "entries"), exist_ok=True)
    group = os.path.join(folder, "fields", fid + ".json")
    if not os.path.exists(group):
        write_atomic(group, json.dumps(fields))
    entry.update(fields=fields, digest=digest)
    write_atomic(os.path.join(folder, "entries", f"{fid}-{digest}.json"), json.dumps(entry))
    return class_of(base, fields, digest)


def copy_or_learn(
    cache_dir: str,
    base: str,
    spec: StageSpec,
    rec: Any,
    cachers: list,
    compute: Callable[[], tuple[list[str], dict | None]],
    code: str | None,
    found: tuple[dict, str] | None,
) -> tuple[dict | None, str | None]:
    """Copy ``found`` (an earlier node this set agrees with, ``find``), or compute
    (``compute`` returns what it published and what it read) and record what was read.
    Returns the entry copied (None when this node computed) and the node's class. No lock
    is held across the computation: which sets agree is known only once one has run, so
    holding it would run every node of the stage one at a time. Shared by the eager engine
    and the job runtime."""
    if found is not None:
        entry, key = found
        copy_outputs(spec, rec, cachers, entry, entry["fields"], cache_dir)
        return entry, key
    published, read = compute()
    return None, record(cache_dir, base, read, published, rec, cachers, code)


def whole_use(cache_dir: str, base: str) -> str | None:
    """What saw every field the last time a node of this class computed (``--dry-run``)."""
    try:
        with open(os.path.join(_folder(cache_dir, base), "whole.json")) as f:
            return str(json.load(f)["whole"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
