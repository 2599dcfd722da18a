"""Local GPU slots: every node that declares ``gpu: k`` gets k devices of its own.

Snakemake limits GPU jobs only when it is told ``--resources gpu=N``, which the README's pipe
(``cfcompile X | snakemake -s /dev/stdin --cores 2``) never passes, and it never tells a job
which device is its own: two one-GPU jobs would both see every device and both start on
device 0. So the limit is enforced here, in the job process, whatever started it:

- **The pool** is found at compile time, without initialising CUDA: ``CUDA_VISIBLE_DEVICES``
  when it is set (which is also how a user hands cfcompile a subset), else ``nvidia-smi -L``,
  else NVML when ``pynvml`` is importable. It is written to ``gpus.json`` in the version folder
  only when some stage declares a GPU, so an experiment that declares none (every unmodified
  curifactory experiment) sees the machine exactly as before. A job on another host than the
  compile's looks again itself.
- **A slot** is a file per device under ``WORKDIR/gpus/``, held with ``flock`` while a node
  runs on that device; the kernel drops the lock when the process dies (a killed job never
  leaks a device). A node asking for k devices takes all k at once under a short allocation
  lock, or none (no two jobs each holding half of what both need). While all devices are
  held, the job waits, polling: it keeps the Snakemake core it was started on.
- **What the node sees**: ``CUDA_VISIBLE_DEVICES`` set to its own devices (GPU UUIDs when
  ``nvidia-smi`` or NVML named them, so the CUDA device order cannot reorder them). Nodes of
  stages that declare no GPU, in an experiment that declares some, see ``""``: no device.
- **Holding**: a process gives its devices back when its next node starts (a CPU stage after a
  GPU stage in one job) or when it exits. If the node loaded the CUDA driver into the process,
  the CUDA context lives as long as the process, so the devices stay held until it exits.
- **On Slurm** (``SLURM_JOB_ID`` set) Slurm has chosen the devices (``--gpus``): a GPU node
  keeps the ``CUDA_VISIBLE_DEVICES`` Slurm set, and only the no-device rule applies.
- **No device at all** for a node that asks for one: the node fails with a message saying
  what was looked at; it never runs on the CPU in silence.

Standard library only (job processes import it): never snakemake, networkx or jinja2.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from cfcompile.core.workdir import record_failure
from cfcompile.errors import CfcompileError

log = logging.getLogger("cfcompile.job")

ENV = "CUDA_VISIBLE_DEVICES"
POOL_FILE = "gpus.json"
SLOTS_DIR = "gpus"
POLL_SECONDS = 0.1
"""How often a job waiting for a device looks again; a node on a GPU runs far longer."""
CUDA_LIBRARIES = ("libcuda.so", "libnvcuda.so")
"""The CUDA driver library: mapped into a process once CUDA is initialised (cuInit)."""


class NoDevice(CfcompileError):
    """A node asks for more GPUs than this machine (or the pool handed over) has."""


@dataclass
class Pool:
    """The devices jobs of this workflow may be given, and how they were found."""

    devices: list[str]
    source: str
    host: str = field(default_factory=socket.gethostname)

    def to_json(self) -> dict[str, Any]:
        return {"devices": self.devices, "source": self.source, "host": self.host}


def declared_gpus(resources: dict) -> int:
    """Whole devices a stage asks for (``resources={"gpu": k}``); 0 when none."""
    value = resources.get("gpu", 0) or 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CfcompileError(f"resources gpu={value!r}: a GPU count is a whole number, 0 or more")
    if value != int(value):
        raise CfcompileError(f"resources gpu={value!r}: cfcompile hands out whole devices")
    return int(value)


def detect() -> Pool:
    """This machine's GPUs, without initialising CUDA in this process."""
    given = os.environ.get(ENV)
    if given is not None:
        devices = [d.strip() for d in given.split(",") if d.strip()]
        devices = [d for d in devices if d not in ("-1", "NoDevFiles")]
        return Pool(devices, f"{ENV}={given!r}")
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            out = None
            why = f"nvidia-smi -L failed ({exc})"
        if out is not None and out.returncode == 0:
            found = re.findall(r"^GPU (\d+):.*?(?:\(UUID: (GPU-[0-9A-Za-z-]+)\))?$",
                               out.stdout, re.M)  # fmt: skip
            return Pool([uuid or index for index, uuid in found], "nvidia-smi -L")
        if out is not None:
            why = f"nvidia-smi -L exited {out.returncode}"
        return Pool([], why)
    return _nvml() or Pool([], f"{ENV} unset, no nvidia-smi on PATH, no pynvml")


def _nvml() -> Pool | None:
    """NVML (management library: it reads the driver, it creates no CUDA context)."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            uuids = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
                uuids.append(uuid.decode() if isinstance(uuid, bytes) else str(uuid))
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - NVML's errors are its own classes
        return Pool([], f"NVML: {exc}")
    return Pool(uuids, "NVML")


def record_pool(version: str, stage_gpus: dict[str, int]) -> Pool | None:
    """At compile time: write the pool beside the compiled nodes when some stage asks for a
    GPU (``stage_gpus``: stage -> devices); None, and nothing written, when none does."""
    asking = {s: k for s, k in stage_gpus.items() if k > 0}
    if not asking:
        return None
    pool = detect()
    data = {**pool.to_json(), "stages": asking}
    path = os.path.join(version, POOL_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)  # a job reading it meanwhile sees the old or the new
    return pool


def cuda_initialised() -> str | None:
    """Why this process must not fork workers for GPU jobs, or None: torch says it
    initialised CUDA, or the CUDA driver library is mapped (a CUDA library called cuInit).
    A child forked after that cannot use CUDA (CUDA does not survive fork)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            return "torch.cuda.is_initialized() is True"
    except Exception:  # noqa: BLE001 - a partial torch: fall back to the mapping check
        pass
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                name = line.rsplit("/", 1)[-1]
                if name.startswith(CUDA_LIBRARIES):
                    return f"the CUDA driver library is loaded ({line.split()[-1]})"
    except OSError:
        pass
    return None


def fork_safe(who: str) -> bool:
    """Whether a process that imported the project may fork children that use GPUs. A warm
    worker's parent must never initialise CUDA: a forked child cannot use a CUDA context
    its parent made. Says why on stderr when it may not (the jobs then run in process,
    each importing the project afresh, which is always safe)."""
    why = cuda_initialised()
    if why is None:
        return True
    print(
        f"cfcompile: {who} does not fork workers: importing the project initialised CUDA "
        f"({why}); jobs run in process instead. Keep CUDA calls (torch.cuda.*, .to('cuda')) "
        "inside stages, not at module level",
        file=sys.stderr,
    )
    return False


class Slots:
    """The slot files of one workflow folder: take k devices at once, or wait."""

    def __init__(self, workdir: str, devices: list[str]):
        self.folder = os.path.join(workdir, SLOTS_DIR)
        self.devices = devices
        os.makedirs(self.folder, exist_ok=True)

    def path(self, device: str) -> str:
        return os.path.join(self.folder, re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".lock")

    def try_take(self, k: int, holder: str) -> list[tuple[str, int]] | None:
        """k free devices, each locked (the fds hold the locks), or None and nothing held."""
        alloc = os.open(os.path.join(self.folder, "alloc.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        got: list[tuple[str, int]] = []
        try:
            fcntl.flock(alloc, fcntl.LOCK_EX)
            for device in self.devices:
                fd = os.open(self.path(device), os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno in (errno.EAGAIN, errno.EACCES):
                        continue
                    raise
                got.append((device, fd))
                if len(got) == k:
                    break
        finally:
            os.close(alloc)  # the allocation lock only; the device locks stay with their fds
        if len(got) < k:
            release(got)
            return None
        for _, fd in got:  # who holds it, for a person looking at a stuck run
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder} pid {os.getpid()} since {time.time():.3f}\n".encode(), 0)
        return got

    def take(self, k: int, holder: str) -> list[tuple[str, int]]:
        """Wait until k devices are free; the job keeps its Snakemake core while it waits."""
        waited_since = None
        while True:
            got = self.try_take(k, holder)
            if got is not None:
                if waited_since is not None:
                    log.info("%s: got GPU %s after %.1f s", holder, ",".join(d for d, _ in got),
                             time.time() - waited_since)  # fmt: skip
                return got
            if waited_since is None:
                waited_since = time.time()
                log.info("%s: waiting for %d of the %d GPU(s), all held by other jobs", holder,
                         k, len(self.devices))  # fmt: skip
            time.sleep(POLL_SECONDS)


def release(held: list[tuple[str, int]]) -> None:
    for _, fd in held:
        try:
            os.close(fd)
        except OSError:
            pass


class ProcessGpus:
    """This process's devices: what it holds now, and for which nodes."""

    def __init__(self, pool: dict[str, Any], workdir: str):
        self.pool = pool
        self.workdir = workdir
        self.held: list[tuple[str, int]] = []
        self.pinned = False  # CUDA was initialised on the held devices: keep them to the end
        self.given = os.environ.get(ENV)  # what the process started with (Slurm's choice)

    def devices(self) -> list[str]:
        if self.pool.get("host") == socket.gethostname():
            return list(self.pool.get("devices") or [])
        found = detect()  # compiled on another machine: this one's own devices
        self.pool = {**self.pool, **found.to_json()}
        return found.devices

    def enter(self, want: int, holder: str) -> None:
        """Before a node: give back what the last node held, take what this one needs."""
        if "SLURM_JOB_ID" in os.environ:  # Slurm chose the devices of this task
            if want == 0:
                os.environ[ENV] = ""
            elif self.given is not None:
                os.environ[ENV] = self.given
            return
        if self.held and not self.pinned:
            if cuda_initialised():
                self.pinned = True  # the context lives on with the process: so does the hold
            else:
                release(self.held)
                self.held = []
        if want == 0:
            os.environ[ENV] = ""
            return
        if self.held and self.pinned:
            if want > len(self.held):
                raise NoDevice(
                    f"{holder} asks for {want} GPU(s); this process initialised CUDA on "
                    f"{len(self.held)} in an earlier node and cannot see others"
                )
            os.environ[ENV] = ",".join(d for d, _ in self.held[:want])
            return
        devices = self.devices()
        if want > len(devices):
            raise NoDevice(self._no_device(want, holder, devices))
        self.held = Slots(self.workdir, devices).take(want, holder)
        os.environ[ENV] = ",".join(d for d, _ in self.held)
        log.info("%s: on GPU %s", holder, os.environ[ENV])

    def _no_device(self, want: int, holder: str, devices: list[str]) -> str:
        have = f"{len(devices)} ({', '.join(devices)})" if devices else "none"
        return (
            f"{holder} asks for {want} GPU(s) (resources gpu={want}) and this machine has "
            f"{have}, found from {self.pool.get('source')}. cfcompile does not run it on the "
            f"CPU: set {ENV} to the devices to use before the compile, run it where there "
            "are GPUs (--submit slurm), or declare fewer"
        )


_process: ProcessGpus | None = None
_loaded_for: str | None = None


def for_node(version: str, workdir: str, node: Any) -> None:
    """Called before each node a job process runs (``job_runner``): sets
    ``CUDA_VISIBLE_DEVICES`` for it, waiting for devices if need be. Does nothing in an
    experiment that declares no GPU. A node that cannot get its devices has its failure
    recorded (``--status`` shows the message) and raises ``NoDevice``."""
    global _process, _loaded_for
    if _loaded_for != version:
        _loaded_for = version
        try:
            with open(os.path.join(version, POOL_FILE)) as f:
                _process = ProcessGpus(json.load(f), workdir)
        except FileNotFoundError:
            _process = None
    if _process is None:
        return
    holder = f"stage {node.stage} [{node.label}]"
    start = time.time()
    try:
        _process.enter(declared_gpus(node.resources), holder)
    except NoDevice as exc:
        record_failure(workdir, node.id, exc, start, False)
        raise
