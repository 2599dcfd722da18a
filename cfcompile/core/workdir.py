"""The compiled workflow folder: every file name in it, and the readers and writers of each.

```
WORKDIR/                     (default PROJECT/.cfcompile/EXPERIMENT)
  v/DIGEST/                  one compiled version, never changed once written:
    Snakefile manifest.json    the Snakemake backend's files
    nodes.sqlite               one row per node, the pickled parameter sets, the job units
    workflow.json              WorkflowInfo: project, experiment, cache, digests, provenance
  current                    the digest of the newest version
  Snakefile                  a copy of the newest version's Snakefile
  lock, run.lock             compiles serialise on lock; a running Snakemake holds run.lock
  sources/                   values run() put into record.state (content-addressed pickles)
  done/STAGE/HASH            completion marker of a node: what Snakemake tracks
  force/STAGE_HASH           trigger files of nodes that must rerun (overwrite)
  batches/N.done             completion marker of a multi-node job unit
  failures/STAGE_HASH.json   why a node failed (message, timeout or error)
  attempts/STAGE_HASH.json   a checkpointing node's attempts: how each ended, last save
  logs/STAGE/HASH.log        log of a one-node job; logs/batches/N.log of a unit
  submissions.json           arrays submitted through submitit
```

Jobs read the version they were started with, so compiling again (another ``-p``, an edit)
while a run goes on never changes what its jobs read. Snakemake tracks nodes through their
``done/`` markers, never the cache files: it deletes a job's outputs before running it, and a
failed rerun must not take the last good result with it.

Backends, views and the job runtime import the names from here; none builds a path itself.
Standard library only: the job runtime reads this module on every node.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shlex
import socket
import sqlite3
import time
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cfcompile.core.ir import Node, NodeId
from cfcompile.core.transaction import replacing, write_atomic

SNAKEFILE = "Snakefile"
MANIFEST = "manifest.json"
NODES_DB = "nodes.sqlite"
WORKFLOW = "workflow.json"
SUBMISSIONS = "submissions.json"
SOURCES = "sources"
VERSIONS = "v"
CURRENT = "current"
LOCK = "lock"
RUN_LOCK = "run.lock"
BEST = "best.txt"  # the best configurations of the latest results table, for the end of a run


class FailureKind(StrEnum):
    """What a failure record says ended a node; ``label`` is the word people read."""

    ERROR = "error"
    TIMEOUT = "timeout"

    @property
    def label(self) -> str:
        return TIMED_OUT if self is FailureKind.TIMEOUT else FAILED


TIMED_OUT = "timed out"
FAILED = "failed"


def default_workdir(project_root: str, experiment: str) -> str:
    return os.path.join(str(project_root), ".cfcompile", experiment)


# -- small files and their names -----------------------------------------------------------
def force_path(workdir: str, node_id: NodeId) -> str:
    return os.path.join(workdir, "force", f"{node_id[0]}_{node_id[1]}")


def done_path(workdir: str, node_id: NodeId) -> str:
    """Completion marker of one node, written by the job after its outputs are published."""
    return os.path.join(workdir, "done", node_id[0], node_id[1])


def marker_path(workdir: str, unit: str) -> str:
    """Completion marker of a multi-node job unit (``batch_N`` or ``N``): what Snakemake tracks."""
    return os.path.join(workdir, "batches", f"{unit.removeprefix('batch_')}.done")


def printed_path(workdir: str, node_id: NodeId) -> str:
    """What an aggregate printed in its latest run: the end of a run shows it at the terminal."""
    return os.path.join(workdir, "printed", node_id[0], f"{node_id[1]}.txt")


def node_log(workdir: str, node_id: NodeId) -> str:
    return os.path.join(workdir, "logs", node_id[0], f"{node_id[1]}.log")


def unit_log(workdir: str, unit: str) -> str:
    return os.path.join(workdir, "logs", "batches", f"{unit.removeprefix('batch_')}.log")


def log_path(workdir: str, node_id: NodeId, unit: str | None) -> str:
    """Where a node's output went: its unit's log when it ran inside one, else its own."""
    return unit_log(workdir, unit) if unit else node_log(workdir, node_id)


def results_dir(project_root: str) -> str:
    return os.path.join(str(project_root), "results")


def file_digests(paths: list[str]) -> dict[str, str | None]:
    """md5 per file (None when unreadable): how a job notices edited parameter files."""
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                out[path] = hashlib.md5(f.read()).hexdigest()
        except OSError:
            out[path] = None
    return out


# -- failure records --------------------------------------------------------------------------
def failure_path(workdir: str, node_id: NodeId) -> str:
    return os.path.join(workdir, "failures", f"{node_id[0]}_{node_id[1]}.json")


def record_failure(
    workdir: str, node_id: NodeId, exc: BaseException, start: float, timed_out: bool
) -> None:
    """Write why a node failed, so status and results can say it after the job is gone."""
    path = failure_path(workdir, node_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {
        "stage": node_id[0],
        "hash": node_id[1],
        "kind": FailureKind.TIMEOUT if timed_out else FailureKind.ERROR,
        "message": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        "start": start,
        "end": time.time(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
    write_atomic(path, json.dumps(data))


def clear_failure(workdir: str, node_id: NodeId) -> None:
    try:
        os.remove(failure_path(workdir, node_id))
    except FileNotFoundError:
        pass


def attempts_path(workdir: str, node_id: NodeId) -> str:
    """A checkpointing node's attempts (``core.checkpoint``): kept after its checkpoint is
    removed, so that --status and the report can tell how each attempt ended."""
    return os.path.join(workdir, "attempts", f"{node_id[0]}_{node_id[1]}.json")


def load_attempts(workdir: str, node_id: NodeId) -> dict | None:
    return _json_or_none(attempts_path(workdir, node_id))


def load_failure(workdir: str, node_id: NodeId) -> dict | None:
    return _json_or_none(failure_path(workdir, node_id))


def _json_or_none(path: str) -> dict | None:
    """A record another process may not have written (or is writing): None, never an error."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def failure_label(failure: dict | None) -> str | None:
    """The one word status, results and reports use for a recorded failure."""
    if failure is None:
        return None
    return FailureKind.TIMEOUT.label if failure.get("kind") == FailureKind.TIMEOUT else FAILED


# -- workflow.json ----------------------------------------------------------------------------
@dataclass
class WorkflowInfo:
    """What every process of a compiled workflow needs to know about where it came from."""

    project_root: str
    experiment: str
    param_modules: list[str]
    cache_path: str
    prefix: str | None
    python: str
    workdir: str
    digests: dict[str, str | None] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)
    param_sets: list[list[str]] = field(default_factory=list)  # [name, hash] in order
    subset: str = ""  # --names/--indices, when given: part of the results table's file name
    selection: list[str] = field(default_factory=list)  # -p/--names/--indices words as given
    where: list[str] = field(default_factory=list)  # --project/--cache-path/... as given
    reuse: bool = True  # False: compiled with --no-reuse (core.reuse)
    reuse_learned: bool = False  # --reuse: also merge stages by what earlier runs read

    def command(self, *mode: str) -> str:
        """The command that selects these sets again, with the options that said where things
        are (``--cache-path`` and the like), shell-quoted, with ``mode`` on the end: what a
        hint prints (``cfcompile iris -p base --status``), safe to paste, and answering about
        the same files as the run that printed it."""
        words = self.selection or [w for m in self.param_modules for w in ("-p", m.split(".")[-1])]
        return shlex.join(["cfcompile", self.experiment, *words, *self.where, *mode])

    @property
    def results_dir(self) -> str:
        return results_dir(self.project_root)

    def results_path(self) -> str:
        return os.path.join(self.results_dir, f"{self.experiment}.jsonl")

    def save(self, folder: str) -> None:
        path = os.path.join(folder, WORKFLOW)
        write_atomic(path, json.dumps(self.__dict__, indent=2, default=str))  # flat fields

    @classmethod
    def load(cls, folder: str) -> WorkflowInfo:
        """The workflow.json of a version folder (or of an older flat workdir)."""
        with open(os.path.join(folder, WORKFLOW)) as f:
            data = json.load(f)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


# -- the node store ---------------------------------------------------------------------------
class NodeStore:
    """``nodes.sqlite``: nodes, pickled parameter sets and job units, read by key.

    One file instead of a file per node: a 50,000-node sweep would otherwise put 50,000 files
    on a shared filesystem, and a job reads one row by its primary key.
    """

    def __init__(self, workdir: str):
        path = os.path.join(workdir, NODES_DB)
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    @staticmethod
    def write(
        workdir: str,
        nodes: list[Node],
        params: dict,
        units: dict[str, list[Node]],
        digest: Any = None,
    ) -> None:
        """Build the database aside and rename it into place whole (readers never see half).

        With ``digest`` (a hashlib object) every row is also fed to it, in one pass: the rows
        are built once and never all held at the same time."""
        path = os.path.join(workdir, NODES_DB)
        with replacing(path) as tmp:
            NodeStore.write_to(tmp, nodes, params, units, digest)

    @staticmethod
    def write_to(
        tmp: str, nodes: list[Node], params: dict, units: dict[str, list[Node]], digest: Any
    ) -> None:
        if os.path.exists(tmp):
            os.remove(tmp)

        def rows():
            for n in nodes:
                row = n.to_row()
                if digest is not None:
                    digest.update(row.encode())
                yield n.stage, n.hash, row

        con = sqlite3.connect(tmp)
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        with con:
            con.execute(
                "CREATE TABLE nodes (stage TEXT, hash TEXT, data TEXT, PRIMARY KEY (stage, hash))"
            )
            con.execute("CREATE TABLE params (key TEXT PRIMARY KEY, name TEXT, blob BLOB)")
            con.execute("CREATE TABLE units (name TEXT PRIMARY KEY, members TEXT)")
            con.executemany("INSERT INTO nodes VALUES (?, ?, ?)", rows())
            con.executemany(
                "INSERT INTO params VALUES (?, ?, ?)",
                ((k, p.name, pickle.dumps(p, protocol=4)) for k, p in params.items()),
            )
            con.executemany(
                "INSERT INTO units VALUES (?, ?)",
                ((name, json.dumps([n.id for n in ms])) for name, ms in units.items()),
            )
        con.close()

    def node(self, node_id: NodeId) -> Node | None:
        row = self.db.execute(
            "SELECT data FROM nodes WHERE stage = ? AND hash = ?", tuple(node_id)
        ).fetchone()
        return None if row is None else Node.from_row(row[0])

    def nodes(self) -> list[Node]:
        rows = self.db.execute("SELECT data FROM nodes").fetchall()
        return sorted((Node.from_row(r[0]) for r in rows), key=lambda n: n.order)

    def params(self, key: str) -> tuple[str, bytes] | None:
        """(name, pickled parameter set) of a parameter-set hash."""
        return self.db.execute("SELECT name, blob FROM params WHERE key = ?", (key,)).fetchone()

    def members(self, unit: str) -> list[NodeId] | None:
        row = self.db.execute("SELECT members FROM units WHERE name = ?", (unit,)).fetchone()
        return None if row is None else [tuple(m) for m in json.loads(row[0])]

    @classmethod
    def units_in(cls, workdir: str) -> dict[NodeId, str]:
        """``unit_of`` of the newest compiled version, or {} where nothing was compiled yet."""
        version = current_version(workdir)
        if version is None or not os.path.exists(os.path.join(version, NODES_DB)):
            return {}
        return cls(version).unit_of()

    def unit_of(self) -> dict[NodeId, str]:
        """Node -> the multi-node unit it runs in (nodes that run alone are absent)."""
        out: dict[NodeId, str] = {}
        for name, members in self.db.execute("SELECT name, members FROM units"):
            for m in json.loads(members):
                out[tuple(m)] = name
        return out


# -- submissions.json -------------------------------------------------------------------------
def load_submissions(workdir: str) -> list[dict]:
    path = os.path.join(workdir, SUBMISSIONS)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def save_submissions(workdir: str, arrays: list[dict]) -> None:
    """Append the arrays of one submission to the record of every submission."""
    write_atomic(
        os.path.join(workdir, SUBMISSIONS),
        json.dumps(load_submissions(workdir) + arrays, indent=1),
    )


# -- versions and locks -----------------------------------------------------------------------
def current_version(workdir: str) -> str | None:
    """The folder of the newest compiled version, or None."""
    try:
        with open(os.path.join(workdir, CURRENT)) as f:
            digest = f.read().strip()
    except OSError:
        return None
    return os.path.join(workdir, VERSIONS, digest) if digest else None


VERSION_ENV = "CFCOMPILE_VERSION"
"""Set by the Snakefile: which version its jobs read. The job command itself names only the
workflow folder, so it stays the same from one compile to the next (Snakemake reruns a job
whose shell command changed)."""


def resolve_version(path: str) -> str:
    """A version folder from a job's argument: the folder itself, the version the Snakefile
    announced in ``CFCOMPILE_VERSION`` (when it belongs to this workflow), or the newest."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, WORKFLOW)):
        return path
    announced = os.environ.get(VERSION_ENV, "")
    if announced and os.path.dirname(os.path.abspath(announced)) == os.path.join(path, VERSIONS):
        return os.path.abspath(announced)
    return current_version(path) or path
