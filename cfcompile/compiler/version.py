"""Writing one compiled version of a workflow: under a lock, markers in line with the plan.

A compile writes a new version folder (``WORKDIR/v/DIGEST``) that no running job ever sees
change, updates the shared completion markers and force files, points ``current`` at it and
prunes old versions. docs/faults.md says why (a failed rerun keeps its last good result, a
compile during a run does not break it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

from cfcompile.core.ir import Node, NodeId
from cfcompile.core.transaction import write_atomic
from cfcompile.core.workdir import (
    CURRENT,
    LOCK,
    NODES_DB,
    VERSIONS,
    WORKFLOW,
    NodeStore,
    WorkflowInfo,
    done_path,
    force_path,
    marker_path,
)
from cfcompile.errors import CfcompileError

KEEP_VERSIONS = 8


def check_name_lengths(paths: list[str]) -> None:
    """Refuse at compile time a cache file name the filesystem cannot hold.

    A long ``--prefix`` or output name otherwise fails every job after its stage has run (the
    save is the first to touch the file). The metadata file beside each output is the longest.
    """
    limits: dict[str, int] = {}
    for path in paths:
        folder = os.path.dirname(path)
        if folder not in limits:
            probe = folder
            while probe and not os.path.isdir(probe):
                probe = os.path.dirname(probe)
            try:
                limits[folder] = os.pathconf(probe or "/", "PC_NAME_MAX")
            except (OSError, ValueError):
                limits[folder] = 255
        longest = len(os.fsencode(os.path.basename(path))) + len("_metadata.json")
        if longest > limits[folder]:
            raise CfcompileError(
                f"cache file name {os.path.basename(path)!r} is too long for the filesystem "
                f"({longest} bytes with its metadata suffix, limit {limits[folder]}): use a "
                "shorter --prefix, stage name or output name"
            )


@contextlib.contextmanager
def compile_lock(workdir: str) -> Iterator[None]:
    """Serialise compiles of one workflow folder (markers, versions, submissions.json).

    A second compile waits for the first (they take a second or two) and says so.
    """
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, LOCK), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"cfcompile: waiting for another compile of {workdir} ...", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest_head(info: WorkflowInfo, params: dict, units: dict) -> Any:
    h = hashlib.md5()
    h.update(json.dumps(info.__dict__, sort_keys=True, default=str).encode())  # flat fields
    h.update(json.dumps(sorted(params)).encode())
    h.update(json.dumps({k: [n.id for n in v] for k, v in units.items()}).encode())
    return h


def _sync_markers(
    workdir: str,
    nodes: list[Node],
    to_run: set[NodeId],
    since: float,
    units: dict[str, list[Node]],
) -> None:
    """Markers follow the plan: removed for nodes to run, present for cached ones.

    Created in trace order (topological), a unit's marker with its first member, so no marker
    is older than its upstream's and Snakemake's mtime rule agrees with the plan (a project
    cached by an eager run or by curifactory gets its markers without rerunning anything). A
    marker written after ``since`` (a job of a run going on finished meanwhile) is left alone:
    that node is done now.
    """
    unit_of = {n.id: name for name, members in units.items() for n in members}
    busy = {unit_of[nid] for nid in to_run if nid in unit_of}
    present: dict[str, set[str]] = {}  # marker folder -> names in it, listed once
    for node in nodes:
        unit = unit_of.get(node.id)
        if unit is not None and unit not in busy:
            marker = marker_path(workdir, unit)
            if not os.path.exists(marker):
                os.makedirs(os.path.dirname(marker), exist_ok=True)
                open(marker, "w").close()
            busy.add(unit)  # once per unit
        path = done_path(workdir, node.id)
        folder = os.path.dirname(path)
        names = present.get(folder)
        if names is None:
            try:
                names = present[folder] = set(os.listdir(folder))
            except FileNotFoundError:
                names = present[folder] = set()
        there = node.id[1] in names
        if node.id in to_run:
            if there:
                try:
                    if os.stat(path).st_mtime < since:
                        os.remove(path)
                except FileNotFoundError:
                    pass
        elif not there:
            os.makedirs(folder, exist_ok=True)
            open(path, "w").close()
            names.add(node.id[1])


def _prune_versions(workdir: str, keep: str) -> None:
    root = os.path.join(workdir, VERSIONS)
    entries = sorted(
        (e for e in os.scandir(root) if e.is_dir() and e.name != keep),
        key=lambda e: e.stat().st_mtime,
        reverse=True,
    )
    for entry in entries[KEEP_VERSIONS - 1 :]:
        shutil.rmtree(entry.path, ignore_errors=True)


def write_workflow_files(
    info: WorkflowInfo,
    nodes: list[Node],
    params: dict,
    units: dict[str, list[Node]],
    to_run: set[NodeId],
    planned_at: float,
) -> str:
    """The files every backend's jobs read; returns the version folder they live in.

    Call under ``compile_lock``. A unit with a node to run loses its completion marker, node
    markers follow the plan (``_sync_markers``), and a forced node gets a fresh trigger file,
    whose new mtime makes Snakemake rerun it and its dependents.
    """
    workdir = info.workdir
    os.makedirs(workdir, exist_ok=True)
    for name, members in units.items():
        if any(n.id in to_run for n in members):
            with contextlib.suppress(FileNotFoundError):
                os.remove(marker_path(workdir, name))
    _sync_markers(workdir, nodes, to_run, planned_at, units)
    forced = [n for n in nodes if n.force]
    if forced:
        os.makedirs(os.path.dirname(force_path(workdir, forced[0].id)), exist_ok=True)
        for n in forced:
            with open(force_path(workdir, n.id), "w") as out:
                out.write("overwrite requested\n")
    # one pass over the rows: the node store is written aside while its rows feed the digest
    # that names the version; an existing version (nothing changed) keeps its own store
    h = _digest_head(info, params, units)
    staging = os.path.join(workdir, VERSIONS, f".new-{os.getpid()}")
    os.makedirs(staging, exist_ok=True)
    try:
        NodeStore.write_to(os.path.join(staging, NODES_DB), nodes, params, units, h)
        digest = h.hexdigest()[:16]
        version = os.path.join(workdir, VERSIONS, digest)
        if not os.path.exists(os.path.join(version, WORKFLOW)):
            info.save(staging)  # last: its presence means the version is whole
            shutil.rmtree(version, ignore_errors=True)  # an unfinished folder of this digest
            os.rename(staging, version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    os.utime(version)
    write_atomic(os.path.join(workdir, CURRENT), digest)
    _prune_versions(workdir, digest)
    return version
