"""Submit and exit: the packed arrays (``packing``) through submitit, chained by Slurm itself.

One sbatch call per array. Each array waits on its upstream arrays with ``afterok`` (or
``aftercorr`` where its tasks mirror an upstream array's one to one) and
``--kill-on-invalid-dep=yes``, so a failed set cancels what needs it and nothing stays pending
forever; ``--requeue`` lets Slurm requeue a task whose node failed or that was preempted. A
last one-task job waits for all of them (``afterany``) and resubmits, once, what ran out of
time or memory (``retry``): no process stays behind on the login node. Everything submitted
is recorded in ``submissions.json`` in one write, for ``--status``, ``--cancel`` and the
retry job.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
import uuid
from typing import Any

from cfcompile.backends.slurm.gpu import sbatch_options
from cfcompile.backends.slurm.requests import Request
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.compiler.version import compile_lock
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import save_submissions
from cfcompile.errors import CfcompileError
from cfcompile.runtime.job_runner import SAFE_PATH_MARK, run_task
from cfcompile.runtime.requeue import grace_seconds


def folder(workdir: str, site: SiteSettings) -> str:
    """Where submitit keeps its pickles and Slurm writes each task's stdout/stderr."""
    base = site.log_dir or os.path.join(workdir, "submitit")
    return os.path.join(os.path.abspath(os.path.expanduser(base)), "%j")


def dependency(request: Request, ids: dict[int, str]) -> str | None:
    """``afterok:1:2,aftercorr:3`` (all must hold) from upstream array indices."""
    parts = []
    if request.after_ok:
        parts.append("afterok:" + ":".join(ids[i] for i in request.after_ok))
    if request.after_corr:
        parts.append("aftercorr:" + ":".join(ids[i] for i in request.after_corr))
    return ",".join(parts) or None


def executor_parameters(
    request: Request, site: SiteSettings, name: str, dep: str | None
) -> dict[str, Any]:
    """submitit's parameters for one array on Slurm: resources, site options, chaining."""
    extra: dict[str, Any] = dict(request.options)
    extra.update({"kill-on-invalid-dep": "yes", "requeue": True})
    if dep:
        extra["dependency"] = dep
    params: dict[str, Any] = {
        "timeout_min": int(request.time_min),
        # USR2 this long before the limit: a node that checkpoints saves and requeues
        "slurm_signal_delay_s": grace_seconds(site.checkpoint_signal_seconds, request.time_min),
        "slurm_array_parallelism": int(request.throttle or len(request.tasks)),
        "slurm_additional_parameters": extra,
        "name": name,
    }
    if request.mem_mb:
        params["slurm_mem"] = f"{int(request.mem_mb)}M"
    cpus = sbatch_options(request.gpu_ask(), int(request.cpus))  # one of the two CPU flags
    if "cpus-per-task" in cpus:
        params["cpus_per_task"] = int(cpus.pop("cpus-per-task"))
    extra.update(cpus)  # --gpus=[TYPE:]N, --cpus-per-gpu=C
    if site.prologue:
        params["slurm_setup"] = list(site.prologue)
    return params


def make_executor(workdir: str, site: SiteSettings, cluster: str):
    import submitit

    kwargs = {f"{cluster}_python": task_python(site)} if cluster in ("slurm", "local") else {}
    return submitit.AutoExecutor(folder=folder(workdir, site), cluster=cluster, **kwargs)


@contextlib.contextmanager
def _safe_path():
    """submitit starts its local controller as ``python -m submitit.local._local`` in this
    process's working directory, the project root, which ``-m`` puts first on ``sys.path``:
    a project ``random.py`` would break it at ``import tempfile``. ``PYTHONSAFEPATH`` keeps
    the root off for the controller and its tasks; the task removes it again (``SAFE_PATH_MARK``),
    and a value the researcher set is left as it is."""
    if "PYTHONSAFEPATH" in os.environ:
        yield
        return
    os.environ["PYTHONSAFEPATH"] = os.environ[SAFE_PATH_MARK] = "1"
    try:
        yield
    finally:
        os.environ.pop("PYTHONSAFEPATH", None)
        os.environ.pop(SAFE_PATH_MARK, None)


def task_python(site: SiteSettings) -> str:
    """The command submitit starts a task with (``<python> -u -m submitit.core._submit``),
    with ``-P``: ``-m`` would otherwise put the task's working directory, the project root,
    first on ``sys.path``, and a project's ``random.py`` would shadow the standard library's
    before a line of cfcompile runs (the project's modules are found through
    ``project.imports.use_project_root``). cfcompile needs Python 3.11, which has ``-P``."""
    return f"{site.interpreter(shlex.quote(sys.executable))} -P"


def submit_slurm(
    requests: list[Request],
    workdir: str,
    version: str,
    experiment: str,
    site: SiteSettings,
    retry_of: dict[int, dict] | None = None,
) -> list[dict]:
    """Submit ``requests`` in order (each after the arrays it waits on); returns their records
    for ``submissions.json`` (the caller writes them, once)."""
    submission = uuid.uuid4().hex[:12]
    ids: dict[int, str] = {}
    records: list[dict] = []
    for r in requests:
        kind = "retry" if retry_of else r.kind
        name = f"cf-{experiment}-L{r.level}-{kind}"
        executor = make_executor(workdir, site, "slurm")  # parameters stick: one per array
        executor.update_parameters(**executor_parameters(r, site, name, dependency(r, ids)))
        long = long_stages(r, site)
        try:
            jobs = executor.map_array(run_task, [version] * len(r.tasks),
                                      [list(t) for t in r.tasks],
                                      [long] * len(r.tasks))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - submitit wraps sbatch's refusal
            raise refused(r, exc, list(ids.values())) from None
        r.job_id = ids[r.index] = str(jobs[0].job_id).split("_")[0]
        records.append(_record(r, "slurm", submission, jobs, (retry_of or {}).get(r.index)))
    return records


def long_stages(r: Request, site: SiteSettings) -> dict[str, float]:
    """What a task needs to know of the site's checkpoint settings (``runtime.requeue``)."""
    return {
        "grace_s": grace_seconds(site.checkpoint_signal_seconds, r.time_min),
        "max_requeues": int(site.checkpoint_max_requeues),
        "every_s": float(site.checkpoint_every_seconds),
    }


def refused(r: Request, exc: Exception, submitted: list[str]) -> CfcompileError:
    """sbatch refused an array: cancel the arrays this submission made already (they would
    wait for nothing, and no record names them), and say what Slurm said."""
    if submitted:
        subprocess.run(["scancel", *submitted], check=False, capture_output=True)
    said = " ".join(str(exc).split())[-600:]
    undone = (
        f"; the {len(submitted)} array(s) submitted before it were cancelled "
        f"({' '.join(submitted)})"
        if submitted
        else ""
    )
    return CfcompileError(
        f"Slurm refused array #{r.index} (level {r.level} {r.kind}, {len(r.tasks)} task(s)): "
        f"{said}{undone}. Nothing of this submission is queued. If Slurm is busy or its job "
        "table full (MaxJobCount counts jobs that ended in the last MinJobAge seconds too), "
        "wait a few minutes and submit again; --submit slurm --dry-run shows the requests"
    )


def run_local(requests: list[Request], workdir: str, version: str, site: SiteSettings,
              failed_nodes: set[NodeId], is_blocked) -> tuple[list[dict], list]:  # fmt: skip
    """submitit's local executor: the same arrays run here, level by level, a task skipped
    when a node upstream of it failed. Returns (records, [(task, last error line)])."""
    submission = uuid.uuid4().hex[:12]
    records: list[dict] = []
    failures: list[tuple[list[NodeId], str]] = []
    for r in requests:
        executor = make_executor(workdir, site, "local")
        executor.update_parameters(timeout_min=int(r.time_min), cpus_per_task=int(r.cpus))
        tasks = [t for t in r.tasks if not is_blocked(t, failed_nodes)]
        with _safe_path():
            jobs = executor.map_array(run_task, [version] * len(tasks), [list(t) for t in tasks])
        if not jobs:
            continue
        r.job_id = str(jobs[0].job_id).split("_")[0]
        records.append(_record(r, "local", submission, jobs, None, tasks))
        for job, task in zip(jobs, tasks, strict=True):
            try:
                job.result()
            except Exception as exc:  # noqa: BLE001 - reported to the caller and by status
                failed_nodes.update(task)
                lines = str(exc).strip().splitlines() or [type(exc).__name__]
                failures.append((task, lines[-1]))
    with compile_lock(workdir):
        save_submissions(workdir, records)
    return records, failures


def _record(r: Request, cluster, submission, jobs, retry_of, tasks=None) -> dict:
    """What submissions.json keeps of one array: enough for --status to find every node, for
    the retry job to resubmit a task as it was, and for the usage table to compare."""
    tasks = r.tasks if tasks is None else tasks
    return {
        "array": r.job_id,
        "executor": cluster,
        "level": r.level,
        "kind": str(r.kind),
        "index": r.index,
        "submission": submission,
        "submitted": time.time(),
        "stages": r.stages,
        "request": r.resources(),
        "options": r.options,
        "after_ok": r.after_ok,
        "after_corr": r.after_corr,
        "throttle": r.throttle,
        "retry_of": retry_of,
        "tasks": [
            {"job_id": str(j.job_id), "nodes": [list(n) for n in t], "log": str(j.paths.stderr)}
            for j, t in zip(jobs, tasks, strict=True)
        ],
    }
