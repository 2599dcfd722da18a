"""A warm worker forked from the compiling process, ready before Snakemake starts its jobs.

Compiling has to import the experiment and its parameter modules anyway (to trace ``run()``),
and that import is most of what a worker started by the first job would spend (about 1 s for
scikit-learn, seconds for torch). So ``cfcompile X | snakemake`` and ``cfcompile X --run``
fork a worker right after that import, before tracing touches anything: the compile goes on,
the worker waits on a pipe for the version folder the compile writes, binds its socket, and
only then does the compile print the Snakefile. The first job finds it answering.

What makes the fork safe and the worker equal to one a job would start:
- The thread counts Snakemake gives a one-thread job (``OMP_NUM_THREADS=1`` and friends) are
  set before the import, because libraries read them once, at import; the worker registers
  under the socket name such a job computes (``job_client.socket_path``), so a job with other
  values (``threads: 4``) never reaches it and starts its own, as before. The compile's own
  environment is restored after the fork.
- No fork when the process has a second Python thread, outside Linux, with
  ``CFCOMPILE_WORKER=0``, inside a Slurm job (those jobs run in process), or when importing
  the project initialised CUDA (``gpu_slots.fork_safe``: CUDA does not survive a fork).
- The worker leaves its session, closes every pipe, socket and terminal it inherited (the
  Snakefile pipe above all: Snakemake reads until end of file) and writes to the workflow's
  ``logs/worker.log``.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
import threading
from collections.abc import Callable

from cfcompile.core import gc_pace
from cfcompile.project.imports import forget_researcher_modules, warm_files
from cfcompile.runtime import gpu_slots, job_client, worker
from cfcompile.runtime.job_client import THREAD_VARS

PROCESS_NAME = "cfcompile-wkr"  # what ps/top/pgrep show (its command line is the compile's)
READY_SECONDS = 5.0  # how long the compile waits for the worker's socket before printing


class Prefork:
    """The compile's end of a forked worker: tell it the version, or let it go."""

    def __init__(self, to_worker: int, from_worker: int):
        self.to_worker, self.from_worker = to_worker, from_worker

    def announce(self, version: str) -> bool:
        """Hand over the version folder; True once the worker accepts connections."""
        try:
            os.write(self.to_worker, os.fsencode(version) + b"\n")
            ready, _, _ = select.select([self.from_worker], [], [], READY_SECONDS)
            return bool(ready) and os.read(self.from_worker, 1) == b"1"
        except OSError:
            return False
        finally:
            self.close()

    def close(self) -> None:
        """Without an announcement the worker leaves (a failed compile, a dry run)."""
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        self.to_worker = self.from_worker = -1


def wanted() -> bool:
    return sys.platform == "linux" and job_client.worker_wanted()


def start(workdir: str, import_project: Callable[[], None], project_root: str) -> Prefork | None:
    """Import the project as a one-thread job would, then fork the worker; None if unsafe.

    ``import_project`` imports the experiment and parameter modules (its errors propagate:
    they are the compile's errors too)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(dict.fromkeys(THREAD_VARS, "1"))
    try:
        import_project()
        if threading.active_count() > 1 or not job_client.private_dir(job_client.socket_dir()):
            return None
        if not gpu_slots.fork_safe("the compile"):
            return None
        path = job_client.socket_path(workdir)  # the name a one-thread job of this workflow asks
        return _fork(workdir, path, project_root)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def name_process(name: str) -> None:
    """Linux's 15-byte process name, so that ``pgrep cfcompile-wkr`` finds forked workers."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15] + b"\0", 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _fork(workdir: str, path: str, project_root: str) -> Prefork | None:
    to_read, to_worker = os.pipe()
    from_worker, to_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()  # not stopped by the terminal's Ctrl-C with the compile
            if os.fork() == 0:  # reparented to init: the compile never waits for it
                code = _worker(workdir, path, project_root, to_read, to_write)
            else:
                code = 0
        finally:
            os._exit(code)
    os.close(to_read)
    os.close(to_write)
    os.waitpid(pid, 0)
    return Prefork(to_worker, from_worker)


def _worker(workdir: str, path: str, project_root: str, version_fd: int, ready_fd: int) -> int:
    gc_pace.fresh_pace()  # the compile's relaxed collector must not reach the nodes
    forget_researcher_modules()  # every node imports them afresh, under its own environment
    warm = warm_files()  # what stays loaded: an edit of one of these makes the worker decline
    log = os.path.join(workdir, "logs")
    os.makedirs(log, exist_ok=True)
    out = os.open(os.path.join(log, "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    keep = {0, 1, 2, version_fd, ready_fd}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode):
            os.close(fd)  # a pipe, socket or terminal held open would keep a reader waiting
    sys.stdout = sys.__stdout__  # the compile had print() pointed at stderr
    name_process(PROCESS_NAME)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a worker a job starts: stop on TERM
    signal.signal(signal.SIGINT, signal.default_int_handler)
    version = b""
    while not version.endswith(b"\n"):
        chunk = os.read(version_fd, 4096)
        if not chunk:
            return 0  # the compile failed, or wrote nothing for jobs to run
        version += chunk
    os.close(version_fd)
    served = worker.Worker(os.fsdecode(version.strip()), path, warm)

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    worker.run(served, ready)
    return 0
