"""The job command Snakemake runs: ``python -I -S .../cfcompile/client.py WORKDIR ARGS``.

A thin client: it imports only the standard library (no cfcompile, no researcher code), asks
this host's warm worker for the workflow (``runtime.worker``) to run the node in a child it
forks, hands over its stdout/stderr (the job's log) and returns the child's exit status. A
worker has the researcher's modules imported already, so a node no longer pays scikit-learn's
or torch's import time. Where no worker can serve (a Slurm node, ``CFCOMPILE_WORKER=0``, a
worker that cannot start, code edited since it started) the client becomes the ordinary
in-process job runtime (``python -m cfcompile.job``) by exec, exactly as before.

Run with ``-I`` so that neither the script's folder nor PYTHON* variables shadow the standard
library, and ``-S`` (no site-packages: it needs none) to start faster; the exec'ed fallback
gets the job's own interpreter flags and environment back. The command names
``cfcompile/client.py``, which loads this file: that path stays the same across releases.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import sys
import time

WAIT_FOR_WORKER = 60.0  # seconds a first client waits while the worker imports the project
THREAD_VARS = (  # what Snakemake's shell() sets to the rule's threads (snakemake/shell.py)
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
KEYED_ENV = (  # variables libraries read once at import: a worker serves only jobs that agree
    "CUDA_VISIBLE_DEVICES",
    *THREAD_VARS,
    "PYTHONHASHSEED",
    "PYTHONPATH",
    "VIRTUAL_ENV",
)


def socket_dir() -> str:
    """A folder only this user can open: the socket's permissions alone are not enough."""
    return os.path.join("/tmp", f"cfcompile-{os.getuid()}")


def socket_path(workdir: str) -> str:
    """One worker per workflow folder, host, interpreter and import-time environment."""
    key = [os.path.realpath(workdir), socket.gethostname(), sys.executable]
    key += [f"{k}={os.environ.get(k, '')}" for k in KEYED_ENV]
    digest = hashlib.md5("\0".join(key).encode()).hexdigest()[:20]
    return os.path.join(socket_dir(), f"{digest}.sock")  # short: AF_UNIX paths hold 107 bytes


def private_dir(path: str) -> bool:
    """Create the socket folder, or accept it only if it is ours and closed to others."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0 and os.path.isdir(path)


def worker_wanted() -> bool:
    if os.environ.get("CFCOMPILE_WORKER", "1").lower() in ("0", "no", "off", "false"):
        return False
    return "SLURM_JOB_ID" not in os.environ  # a Slurm node: run in process, as before


def connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def start_worker(version: str, path: str) -> socket.socket | None:
    """Connect to the worker, starting it first if no one else is; None if none comes up."""
    sock = connect(path)
    if sock is not None:
        return sock
    if failed_for(path, version):
        return None  # it could not import the project: in process, without retrying each job
    with open(path + ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            starter = True
        except OSError:
            starter = False  # another job is starting it: wait for the socket
        if starter and connect_quiet(path) is None:
            import subprocess  # only the first job of a worker pays for this import

            log = os.path.join(os.path.dirname(os.path.dirname(version)), "logs")
            os.makedirs(log, exist_ok=True)
            with open(os.path.join(log, "worker.log"), "ab") as out:
                subprocess.Popen(
                    [sys.executable, "-P", "-m", "cfcompile.runtime.worker", version, path],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,  # outlives this job; not killed with it
                    env=dict(os.environ),
                    close_fds=True,
                )
        deadline = time.monotonic() + WAIT_FOR_WORKER
        while time.monotonic() < deadline:
            sock = connect(path)
            if sock is not None or failed_for(path, version):
                return sock
            time.sleep(0.02)
    return None


def failed_for(path: str, version: str) -> bool:
    """A worker for this version could not start (it wrote why): do not try again."""
    try:
        with open(path + ".failed") as f:
            return f.readline().strip() == os.path.realpath(version)
    except OSError:
        return False


def connect_quiet(path: str) -> socket.socket | None:
    sock = connect(path)
    if sock is not None:
        sock.close()
    return sock


def ask(sock: socket.socket, version: str, args: list[str], stoppable: bool = True) -> int | None:
    """Send the request and this process's stdout/stderr; the node's exit status, or None
    when the worker declined (stale code, a foreign workflow)."""
    request = {"version": version, "args": args, "cwd": os.getcwd(), "env": dict(os.environ)}
    data = json.dumps(request).encode() + b"\n"
    try:
        socket.send_fds(sock, [data], [1, 2])
    except OSError:
        return None  # the worker is leaving (idle, stale code): run the node in process

    def stop(signum: int, frame: object) -> None:
        sock.close()  # the worker sees the client gone and kills the node's child
        os._exit(128 + signum)

    if stoppable:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    started = False
    buffer = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:  # reset by a worker that left: the same as end of file
            chunk = b""
        if not chunk:
            if not started:
                return None  # closed before it began the node: run it in process instead
            print("cfcompile client: the worker went away while running the node", file=sys.stderr)
            return 1
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            answer = json.loads(line)
            if "started" in answer:
                started = True
            elif "exit" in answer:
                return int(answer["exit"])
            else:
                return None  # declined: stale code or not this worker's workflow


def resolve_version(path: str) -> str:
    """``cfcompile.core.workdir.resolve_version``, repeated here because this script imports only
    the standard library: the folder itself if it is a version, else the version the Snakefile
    announced in CFCOMPILE_VERSION (if it belongs to this workflow), else the newest."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "workflow.json")):
        return path
    announced = os.path.abspath(os.environ.get("CFCOMPILE_VERSION") or "/")
    if os.path.dirname(announced) == os.path.join(path, "v"):
        return announced
    try:
        with open(os.path.join(path, "current")) as f:
            return os.path.join(path, "v", f.read().strip())
    except OSError:
        return path


def main(argv: list[str]) -> int:
    version, args = resolve_version(argv[0]), argv[1:]
    if worker_wanted() and private_dir(socket_dir()):
        workdir = os.path.dirname(os.path.dirname(version))
        sock = start_worker(version, socket_path(workdir))
        if sock is not None:
            with sock:
                code = ask(sock, version, args)
            if code is not None:
                return code
    sys.stdout.flush()
    # -P: no working directory first on sys.path (project.imports.use_project_root's rule)
    os.execv(sys.executable, [sys.executable, "-P", "-m", "cfcompile.job", version, *args])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
