"""Checkpoints of a long stage: ``ckpt = cf.checkpoint(record)``, ``ckpt.load()``, ``ckpt.save()``.

A stage that trains for days outlives a cluster's time limit, and a preemptible partition ends
it without asking. The stage hands its state to ``save`` as often as it likes; a write happens
at most once every ``every`` seconds (``checkpoint_every_seconds``, default 60), atomically
(a new file, then ``meta.json`` replaced naming it), into ``CACHE/checkpoints/STAGE_HASH/``,
so a crash mid-write leaves the previous checkpoint readable. The next attempt of the same
node (same stage, same set hash) gets the state back from ``load``, as long as the stage's own
source (metadata's ``stage_code``) is unchanged: an edited helper keeps days of training, an
edited stage starts over with a warning. Once the stage's outputs are published the
checkpoint is removed, and ``--overwrite`` discards it.

The runtime (``core.execute``) opens a ``NodeRun`` around every stage call; ``checkpoint``
binds to the innermost one, so a stage that never calls it behaves exactly as before. The
job runtime can ask an open checkpoint to stop (``request_stop``: Slurm's warning before the
time limit, a preemption): the next ``save`` then writes at once and raises ``Interrupted``.
Each attempt is kept in a small history (``attempts``): when it started, how it ended, when
its checkpoint was last written, mirrored into the workflow folder (``journal``) where
``--status`` reads it after the checkpoint itself is gone. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

from cfcompile.caching.base import Cacheable, instantiate
from cfcompile.core.transaction import replacing, write_atomic

log = logging.getLogger("cfcompile")

FOLDER = "checkpoints"
META = "meta.json"
EVERY_ENV = "CFCOMPILE_CHECKPOINT_EVERY_SECONDS"
DEFAULT_EVERY = 60.0
VANISHED = "killed (no word: SIGKILL, node failure, or preempted without a signal)"
_UNSET = object()


class Interrupted(BaseException):
    """The runtime asked a checkpointing node to stop (a time limit or a preemption is near)
    and its state was saved: the node ends as interrupted, not failed, and resumes later.
    A BaseException, so that the researcher's ``except Exception`` cannot swallow it."""

    def __init__(self, why: str = "interrupted") -> None:
        super().__init__(why)
        self.why = why


class NodeRun:
    """One stage call in progress: what a checkpoint is keyed on and where it reports."""

    def __init__(self, stage: str, code: str | None, record: Any, discard_before: float | None,
                 journal: str | None, dry: bool = False) -> None:  # fmt: skip
        self.stage, self.code, self.record = stage, code, record
        self.dry = dry  # a dry run (--dry-run's eager engine): load, never write
        self.discard_before = discard_before  # a checkpoint begun before this is discarded
        self.journal = journal
        self.opened: Checkpoint | None = None


_RUNS: list[NodeRun] = []
"""The stage calls in progress, innermost last (a stage may call another stage)."""
_JOURNALS: dict[tuple[str, str], str] = {}
_DISCARD: dict[tuple[str, str], float] = {}


def configure(stage: str, hash_: str, journal: str | None = None,
              discard_before: float | None = None) -> None:  # fmt: skip
    """The job runtime's word on the node it is about to run: where its attempt history goes
    in the workflow folder, and since when an ``--overwrite`` wants it to start over."""
    key = (stage, hash_)
    _JOURNALS.pop(key, None)
    _DISCARD.pop(key, None)
    if journal:
        _JOURNALS[key] = journal
    if discard_before is not None:
        _DISCARD[key] = discard_before


@contextlib.contextmanager
def running(
    stage: str, code: str | None, record: Any, overwrite: bool, dry: bool = False
) -> Iterator[NodeRun]:
    """Around a stage call (``core.execute``): ``checkpoint`` binds to this call. An interrupt
    (Ctrl-C, SIGTERM) that unwinds through it first writes the last state handed to ``save``;
    an ``Interrupted`` or an error leaves the checkpoint for the next attempt."""
    key = (stage, _hash(record))
    discard = _DISCARD.get(key)
    if discard is None and overwrite and not _JOURNALS.get(key):
        discard = time.time()  # an eager --overwrite: whatever is there is older than this call
    run = NodeRun(stage, code, record, None if dry else discard, _JOURNALS.get(key), dry)
    _RUNS.append(run)
    try:
        yield run
        if run.opened is not None:  # a dry run: nothing was published, the state stays
            run.opened._end("returned (nothing published)")
    except BaseException as exc:
        if run.opened is not None:
            run.opened.abandon(exc)
        raise
    finally:
        _RUNS.remove(run)


def current() -> Checkpoint | None:
    """The checkpoint the innermost running stage opened, if it opened one."""
    return _RUNS[-1].opened if _RUNS else None


def checkpoint(record: Any, cacher: type[Cacheable] | Cacheable | None = None,
               every: float | None = None) -> Checkpoint:  # fmt: skip
    """The checkpoint of the stage now running on ``record``: ``load()`` the last state (None
    on a first attempt), ``save(state)`` as often as you like. ``cacher`` writes the state
    instead of pickle (a torch state dict); ``every`` overrides ``checkpoint_every_seconds``."""
    run = next((r for r in reversed(_RUNS) if r.record is record), None)
    if run is None:
        run = _RUNS[-1] if _RUNS else None
    if run is None:
        raise RuntimeError("cf.checkpoint(record) is for use inside a running stage")
    if run.opened is None:
        run.opened = Checkpoint(run, cacher, every)
    return run.opened


def folder(cache: str, stage: str, hash_: str) -> str:
    return os.path.join(cache, FOLDER, f"{stage}_{hash_}")


def read_meta(path: str) -> dict | None:
    try:
        with open(os.path.join(path, META)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _hash(record: Any) -> str:
    return str(record.get_hash())


def _every(every: float | None) -> float:
    if every is not None:
        return float(every)
    try:
        return float(os.environ.get(EVERY_ENV) or DEFAULT_EVERY)
    except ValueError:
        return DEFAULT_EVERY


class Checkpoint:
    """The state of one node between its attempts (see the module's docstring)."""

    def __init__(self, run: NodeRun, cacher: Any, every: float | None) -> None:
        self.run = run
        self.stage, self.hash = run.stage, _hash(run.record)
        self.path = folder(run.record.manager.cache_path, self.stage, self.hash)
        self.cacher, self.every = cacher, _every(every)
        self.opened_at = self.last_write = time.time()
        self.kept_until = self.opened_at  # when the last written state was handed over
        self.handed: Any = _UNSET  # the last state given to save(), written or not
        self.handed_at: float | None = None
        self.written_here = 0  # writes in this attempt
        self.stop: str | None = None  # why the runtime asked this node to stop
        self.meta = self._open()

    # -- the stage's side --------------------------------------------------------------------
    def load(self) -> Any:
        """The last saved state, or None when there is none (or it belonged to other code)."""
        name = self.meta.get("file")
        if not name:
            return None
        target = os.path.join(self.path, name)
        if self.cacher is None:
            with open(target, "rb") as f:
                return pickle.load(f)
        return self._cacher(target).load()

    def save(self, state: Any, now: bool = False) -> bool:
        """Hand over the state; written when ``every`` seconds passed since the last write,
        with ``now``, or when the runtime asked this node to stop (then ``Interrupted`` is
        raised after the write). Returns whether it was written."""
        self.handed, self.handed_at = state, time.time()
        if self.stop is not None:
            self._write(state)
            raise Interrupted(self.stop)
        if now or time.time() - self.last_write >= self.every:
            self._write(state)
            return True
        return False

    @property
    def resumed(self) -> bool:
        """Whether ``load`` gives the state of an earlier attempt."""
        return bool(self.meta.get("file"))

    @property
    def saved_at(self) -> float | None:
        return self.meta.get("saved_at")

    @property
    def attempts(self) -> list[dict]:
        return self.meta["attempts"]

    # -- the runtime's side ------------------------------------------------------------------
    def advanced(self) -> bool:
        """Whether this attempt has progress to keep: a write, or a state handed over."""
        return self.written_here > 0 or self.handed is not _UNSET

    def request_stop(self, why: str) -> None:
        """The next ``save`` writes at once and raises ``Interrupted(why)``."""
        self.stop = why

    def flush(self) -> bool:
        """Write the last state handed over if it is newer than the last write."""
        if self.handed is _UNSET or (self.handed_at or 0) <= self.kept_until:
            return False
        self._write(self.handed)
        return True

    def abandon(self, exc: BaseException) -> None:
        """The stage call unwinds: keep what can be kept, and say how this attempt ended."""
        if not isinstance(exc, Exception | Interrupted):  # Ctrl-C, SIGTERM, a hard limit
            with contextlib.suppress(Exception):
                self.flush()
        how = exc.why if isinstance(exc, Interrupted) else _ended(exc)
        self._end(how)

    def finished(self) -> None:
        """The outputs are published: the checkpoint has served, the history stays."""
        self._end("finished")
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):  # the folder of all checkpoints, once empty
            os.rmdir(os.path.dirname(self.path))

    # -- files -------------------------------------------------------------------------------
    def _open(self) -> dict:
        meta = read_meta(self.path)
        if meta is not None and self._stale(meta):
            if not self.run.dry:
                shutil.rmtree(self.path, ignore_errors=True)
            meta = None
        if meta is None:
            meta = {"stage": self.stage, "hash": self.hash, "code": self.run.code,
                    "begun": self.opened_at, "file": None, "saved_at": None, "saves": 0,
                    "attempts": self._journal_attempts()}  # fmt: skip
        for attempt in meta["attempts"]:
            if attempt.get("ended") is None:
                attempt["ended"] = VANISHED
        meta["attempts"].append({
            "start": self.opened_at, "ended": None, "end": None, "host": socket.gethostname(),
            "job": task_id(), "resumed_from": meta.get("saved_at"), "saved_at": None,
        })  # fmt: skip
        meta["code"] = self.run.code
        self.meta = meta
        if meta.get("file"):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(meta["saved_at"]))
            log.info("stage %s: resuming from its checkpoint of %s", self.stage, when)
        self._store(meta)
        return meta

    def _stale(self, meta: dict) -> bool:
        begun = meta.get("begun") or 0
        if self.run.discard_before is not None and begun < self.run.discard_before:
            log.info("stage %s: overwrite requested: its checkpoint is discarded", self.stage)
            return True
        if meta.get("file") and meta.get("code") != self.run.code:
            log.warning(
                "stage %s: its source changed since its checkpoint was saved (%s): starting "
                "over (an edited helper keeps a checkpoint, an edited stage does not)",
                self.stage, time.strftime("%Y-%m-%d %H:%M", time.localtime(meta["saved_at"])),
            )  # fmt: skip
            return True
        return False

    def _journal_attempts(self) -> list[dict]:
        """The history of earlier checkpoints of this node (finished or discarded), so that
        --status tells the whole story; none outside the job runtime."""
        if not self.run.journal:
            return []
        try:
            with open(self.run.journal) as f:
                old = json.load(f).get("attempts", [])
        except (OSError, ValueError):
            return []
        return [a for a in old if a.get("ended") != "finished"]

    def _cacher(self, target: str) -> Cacheable:
        cacher = instantiate(self.cacher)
        cacher.path_override = target
        cacher.record = None
        return cacher

    def _write(self, state: Any) -> None:
        """A new file, then meta.json replaced to name it, then the old file removed."""
        if self.run.dry:
            return
        os.makedirs(self.path, exist_ok=True)
        now = time.time()
        n = int(self.meta.get("saves") or 0) + 1
        name = f"state-{n}"
        target = os.path.join(self.path, name)
        if self.cacher is None:
            with replacing(target) as tmp, open(tmp, "wb") as out:
                pickle.dump(state, out, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            self._cacher(target).save(state)
        old = self.meta.get("file")
        self.meta.update(file=name, saved_at=now, saves=n)
        self.meta["attempts"][-1]["saved_at"] = now
        self._store(self.meta)
        if old and old != name:
            _remove(os.path.join(self.path, old))
        self.last_write, self.kept_until = now, self.handed_at or now
        self.written_here += 1

    def _end(self, how: str) -> None:
        attempt = self.meta["attempts"][-1]
        if attempt.get("ended") is not None:
            return
        attempt["ended"], attempt["end"] = how, time.time()
        # the work after the last written state is what the next attempt does again
        attempt["lost_s"] = 0.0 if how == "finished" else round(attempt["end"] - self.kept_until, 1)
        if how != "finished":
            self._store(self.meta)
        else:
            self._mirror()

    def _store(self, meta: dict) -> None:
        if self.run.dry:
            return
        os.makedirs(self.path, exist_ok=True)
        write_atomic(os.path.join(self.path, META), json.dumps(meta))
        self._mirror()

    def _mirror(self) -> None:
        if not self.run.journal:
            return
        keep = {k: self.meta.get(k) for k in ("stage", "hash", "saved_at", "saves", "attempts")}
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.run.journal), exist_ok=True)
            write_atomic(self.run.journal, json.dumps(keep))


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def task_id() -> str | None:
    """This array task as scontrol names it (``ARRAYJOB_TASK``), or the plain job's id: what an
    attempt records, and what ``runtime.requeue`` puts back in the queue."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def _ended(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    name = type(exc).__name__
    if name == "Terminated":
        return "terminated (SIGTERM: a time limit, a preemption or scancel)"
    if name == "StageTimeout":
        return "timed out (the stage's timeout=)"
    return f"failed ({name})"
