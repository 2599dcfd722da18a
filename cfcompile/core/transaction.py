"""Publishing a stage's files all together, or not at all.

A stage's cachers write into a hidden staging folder beside each target folder; ``commit``
renames every file into place (atomic on one filesystem) only after all of them were written,
and ``abort`` deletes the staging folders. A crash, a failing ``save`` or a killed job can
therefore never leave a file that a later run would take for a finished artifact, and a
leftover staging folder is how the planner recognises an interrupted run.

Leftovers are cleaned up twice over: SIGTERM (Slurm's time limit, scancel) becomes an exception
during a save (``terminate_as_exception``) so that ``abort`` runs, and what SIGKILL or a
crashed node leaves behind is removed by the next run (``sweep_stale_staging``), which can tell
a dead owner from a live one because the folder is named after its host and pid.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import threading
import uuid
from contextlib import contextmanager
from types import FrameType, TracebackType

STAGING_PREFIX = ".cfcompile-tmp-"
"""Common prefix of every staging folder: ``{STAGING_PREFIX}{host}-{pid}-{token}``. The planner
reads it to detect interrupted runs; older versions wrote ``{STAGING_PREFIX}{token}``."""

_INITIAL_PID_NS = 0xEFFFFFFC  # PROC_PID_INIT_INO: the same on every Linux host


@functools.cache
def host_id() -> str:
    """This host as written into staging folder names.

    The hostname (made filename-safe), plus the pid namespace when it is not the initial one:
    containers that share a hostname and a cache folder but not their pids (Docker with host
    networking) must count as different hosts, or one would delete the other's live staging.
    """
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "localhost"
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return host
    return host if ns == _INITIAL_PID_NS else f"{host}.pidns{ns}"


def staging_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) of a staging folder's name; None for other names and the old format."""
    if not name.startswith(STAGING_PREFIX):
        return None
    parts = name[len(STAGING_PREFIX) :].rsplit("-", 2)  # the host may contain "-"
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2]:
        return None
    return parts[0], int(parts[1])


def pid_alive(pid: int) -> bool:
    """Whether a process of this pid exists here (a zombie counts as dead: it writes no more)."""
    if pid <= 0:
        return True  # never signal a process group; treat as unknown, i.e. keep
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def sweep_stale_staging(folder: str) -> list[str]:
    """Remove the staging folders in ``folder`` whose owning process is dead; returns them.

    Only folders of this host whose pid no longer runs: on a shared filesystem another host's
    staging folder may belong to a live job, and a folder of the old format has no owner to
    check, so both are left alone. A reused pid keeps a dead owner's folder (never the
    reverse), which is the safe way to be wrong.
    """
    here = host_id()
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        owner = staging_owner(entry.name)
        if owner is None or owner[0] != here or pid_alive(owner[1]):
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.lexists(entry.path):
            removed.append(entry.path)
    return sorted(removed)


class Terminated(BaseException):
    """SIGTERM arrived: raised so that ``finally`` blocks and ``Transaction.abort`` run.

    A BaseException, so that the researcher's ``except Exception`` does not swallow it.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)  # the only argument: pickles (submitit returns exceptions)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


class terminate_as_exception:  # noqa: N801 - used as a context manager, like contextlib's
    """While the block runs on the main thread, SIGTERM raises ``Terminated`` in it.

    It takes over only where SIGTERM would otherwise kill the process on the spot (the default
    disposition): an ignored SIGTERM stays ignored, and a handler someone installed (an outer
    ``terminate_as_exception``, submitit's) stays in charge, since whatever it raises already
    unwinds through the block's cleanup.

    ``redeliver=True`` is for code that only needs its cleanup to run (a save): after the block
    unwinds, SIGTERM is sent again with the old disposition, so the process still dies of it as
    it would have, only without leftovers. The job runtime uses ``redeliver=False`` around a
    whole job, catches ``Terminated``, writes the failure record and exits 143.
    """

    def __init__(self, redeliver: bool = False) -> None:
        self.redeliver = redeliver
        self.installed = False
        self.active = False
        self.pending = False
        self.caught = False

    def __enter__(self) -> terminate_as_exception:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set (and only run) on the main thread
        if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
            return self
        self.active = True
        signal.signal(signal.SIGTERM, self._on_term)
        self.installed = True
        return self

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        if not self.active:  # the block is over: deliver it again once the old disposition is back
            self.pending = True
            return
        self.caught = True
        raise Terminated(signum)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if not self.installed:
            return False
        self.active = False
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.installed = False
        if self.pending or (self.redeliver and self.caught):
            signal.raise_signal(signal.SIGTERM)  # default disposition: the process ends here
        return False


def _default_term_in_child() -> None:
    """A process forked while a block runs (a ``multiprocessing`` fork pool's worker) is not
    the job: SIGTERM ends it as it would end a fresh process. With the job's handler it would
    raise ``Terminated`` instead, and ``Pool.terminate()`` would wait for it forever."""
    handler = signal.getsignal(signal.SIGTERM)
    if isinstance(getattr(handler, "__self__", None), terminate_as_exception):
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        except ValueError:  # not the main thread of the child: nothing to undo there
            pass


os.register_at_fork(after_in_child=_default_term_in_child)


class Transaction:
    """Collects the files of one stage in staging directories and publishes them together."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []  # (staged path, final path)
        self._dirs: dict[str, str] = {}  # final directory -> its staging directory
        # host and pid let a later run tell a dead owner's leftovers from a live save
        self.name = f"{STAGING_PREFIX}{host_id()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def stage_path(self, final: str) -> str:
        final = os.path.abspath(final)
        for staged, done in self._staged:
            if done == final:
                return staged
        parent = os.path.dirname(final)
        staging = self._dirs.get(parent)
        if staging is None:
            staging = os.path.join(parent, self.name)
            os.makedirs(staging, exist_ok=True)
            self._dirs[parent] = staging
        staged = os.path.join(staging, os.path.basename(final))
        self._staged.append((staged, final))
        return staged

    def commit(self) -> list[str]:
        """Rename every staged file into place; returns the published paths."""
        published = []
        for staged, final in self._staged:
            if not os.path.lexists(staged):
                continue  # asked for a path but wrote nothing there (e.g. a metadata probe)
            if os.path.isdir(staged) and not os.path.islink(staged) and os.path.isdir(final):
                shutil.rmtree(final)
            os.replace(staged, final)
            published.append(final)
        self._cleanup()
        return published

    def abort(self) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        for staging in self._dirs.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._dirs.clear()


@contextmanager
def replacing(path: str):
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    For single files (markers, manifests, databases, result tables): a reader sees the old file
    or the new one, never half of one, and a failed write leaves nothing behind.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: str | bytes) -> None:
    with replacing(path) as tmp, open(tmp, "wb" if isinstance(data, bytes) else "w") as out:
        out.write(data)
