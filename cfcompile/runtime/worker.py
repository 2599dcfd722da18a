"""The warm local runtime: ``python -m cfcompile.runtime.worker VERSION SOCKET`` (a client
starts it).

It imports the project's experiment and parameter modules once, then serves job requests on a
Unix socket in a folder only its user can open: for each request it forks a child that runs
one node (or one unit) exactly as ``python -m cfcompile.job`` would, with the client's
stdout and stderr (the job's log), working directory and environment, and sends back the
exit status. It is the pattern of gunicorn's preload and multiprocessing's forkserver.

Rules it keeps:
- a request names a version folder of this worker's own workflow and a node, never code;
- it stays single-threaded and imports nothing that starts threads or initialises a GPU (it
  only imports the researcher's modules, as the job would); a project whose import
  initialised CUDA gets no worker (``gpu_slots.fork_safe``), its jobs run in process;
- it leaves when idle, and when any file of a module it imported (or a parameter file) has
  changed since it started: edited code is never served stale (the client then runs the job in
  process);
- a client that goes away (Ctrl-C, SIGTERM, Snakemake's timeout) takes its child with it;
- children are reseeded (``random``, numpy's global generator) so unseeded randomness differs
  between nodes as it does between fresh processes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cfcompile import compat
from cfcompile.core.workdir import VERSIONS, WorkflowInfo
from cfcompile.errors import CfcompileError
from cfcompile.project import modules
from cfcompile.project.imports import forget_researcher_modules, use_project_root, warm_files
from cfcompile.runtime import gpu_slots, job_runner

IDLE_SECONDS = 120.0
KILL_GRACE = 5.0


@dataclass
class Running:
    conn: socket.socket
    pid: int
    pidfd: int
    killed_at: float | None = None


class Worker:
    def __init__(self, version: str, path: str, warm: dict[str, float] | None = None):
        """``warm``: the files of the modules a forked worker keeps loaded (``prefork`` takes
        them right after the compile's import); else the project is imported here, once, for
        the installed packages it loads, and then forgotten."""
        self.path = path
        self.inode: int | None = None  # of the socket this worker bound at ``path``
        self.info = WorkflowInfo.load(version)
        self.workdir = os.path.realpath(self.info.workdir)
        if warm is None:
            use_project_root(self.info.project_root)
            compat.install()  # the alias must exist before the project is imported
            for name in [*self.info.param_modules, f"experiments.{self.info.experiment}"]:
                modules.import_name(name)
            forget_researcher_modules()  # every node imports them afresh
            if not gpu_slots.fork_safe("the warm worker"):
                raise CfcompileError("importing the project initialised CUDA: no warm worker")
            warm = warm_files()
        self.warm = warm
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, Running] = {}
        self.last_request = time.monotonic()

    # -- staleness -----------------------------------------------------------------------------
    def stale(self) -> bool:
        """A file of a module this worker keeps loaded changed (``pip install -U``, an edit of
        cfcompile): its children would run other code than a fresh process. The researcher's
        own files never make it stale: each node imports them afresh."""
        for path, mtime in self.warm.items():
            try:
                if os.stat(path).st_mtime != mtime:
                    return True
            except OSError:
                return True
        return False

    def ours(self, version: str) -> bool:
        """A version folder of this worker's workflow, and nothing else."""
        real = os.path.realpath(version)
        return os.path.dirname(real) == os.path.join(self.workdir, VERSIONS) and os.path.isfile(
            os.path.join(real, "workflow.json")
        )

    # -- serving -------------------------------------------------------------------------------
    def replaced(self) -> bool:
        """A newer worker (a later compile forked it) now answers at our path."""
        try:
            return os.stat(self.path).st_ino != self.inode
        except OSError:
            return True

    def serve(self, listener: socket.socket) -> None:
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        while True:
            if not self.running and (
                time.monotonic() - self.last_request > IDLE_SECONDS or self.replaced()
            ):
                return
            for key, _ in self.selector.select(timeout=1.0):
                if key.data == "accept":
                    if not self.accept(listener):
                        return
                elif key.data[0] == "child":
                    self.reap(key.data[1])
                else:
                    self.client_gone(key.data[1])
            self.escalate()

    def accept(self, listener: socket.socket) -> bool:
        """Serve one request; False when the worker must leave (its code went stale)."""
        conn, _ = listener.accept()
        self.last_request = time.monotonic()
        conn.settimeout(10)
        try:
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
            while not msg.endswith(b"\n"):
                more = conn.recv(1 << 20)
                if not more:
                    raise OSError("short request")
                msg += more
            request = json.loads(msg)
        except (OSError, ValueError):
            conn.close()
            return True
        if len(fds) != 2 or not self.ours(request.get("version", "")) or self.stale():
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps({"declined": True}).encode() + b"\n")
            conn.close()
            return not self.stale()
        pid = os.fork()
        if pid == 0:  # the child never returns
            conn.close()
            listener.close()
            run_child(request, fds)
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(json.dumps({"started": pid}).encode() + b"\n")
        except OSError:
            pass  # the client is gone already: client_gone stops the child
        pidfd = os.pidfd_open(pid)
        entry = Running(conn, pid, pidfd)
        self.running[pid] = entry
        self.selector.register(pidfd, selectors.EVENT_READ, ("child", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("conn", pid))
        return True

    def reap(self, pid: int) -> None:
        entry = self.running.pop(pid)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
        self.selector.unregister(entry.pidfd)
        os.close(entry.pidfd)
        self.selector.unregister(entry.conn)
        try:
            entry.conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        except OSError:
            pass
        entry.conn.close()

    def client_gone(self, pid: int) -> None:
        """The job that asked was stopped: stop its child (SIGTERM, SIGKILL after a grace)."""
        entry = self.running[pid]
        try:
            if entry.conn.recv(1, socket.MSG_PEEK):
                return  # a stray byte, not a hang-up
        except OSError:
            pass
        if entry.killed_at is None:
            entry.killed_at = time.monotonic()
            with_group(pid, signal.SIGTERM)
        self.selector.unregister(entry.conn)

    def escalate(self) -> None:
        for entry in self.running.values():
            if entry.killed_at and time.monotonic() - entry.killed_at > KILL_GRACE:
                with_group(entry.pid, signal.SIGKILL)


def with_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


def run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job, then leave with its exit status."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own group: stopping it stops what it started
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        code = job_runner.main([request["version"], *request["args"]])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then leave with a failure status
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)


def main(argv: list[str]) -> int:
    version, path = argv
    try:
        worker = Worker(version, path)
    except BaseException as exc:  # noqa: BLE001 - clients must stop waiting, not hang
        with open(path + ".failed", "w") as out:  # for this version only: a fix is retried
            out.write(f"{os.path.realpath(version)}\n{type(exc).__name__}: {exc}\n")
        raise
    run(worker)
    return 0


def run(worker: Worker, ready: Callable[[], None] | None = None) -> None:
    """Bind the worker's socket (it appears at its path only once it accepts), serve until
    idle, replaced or stale, and leave the path to whoever holds it now."""
    path = worker.path
    tmp = f"{path}.{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(tmp)
    os.chmod(tmp, 0o600)
    listener.listen(64)
    worker.inode = os.stat(tmp).st_ino
    os.replace(tmp, path)  # a worker already here sees itself replaced and leaves when idle
    if ready is not None:
        ready()
    try:
        worker.serve(listener)
    finally:
        # unlink first: a client connecting now starts a new worker instead of waiting on us;
        # one already queued on this socket sees it closed before "started" and runs in process
        if not worker.replaced():
            try:
                os.remove(path)
            except OSError:
                pass
        listener.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
