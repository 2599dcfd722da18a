"""``--submit slurm --dry-run``: the sbatch requests a submission would make, one per array.

Printed as sbatch command lines (``#2`` stands for the job id array 2 would get), so a
researcher can read them as Slurm would and compare them with what their site allows.
"""

from __future__ import annotations

import shlex

from cfcompile.backends.slurm.arrays import dependency
from cfcompile.backends.slurm.gpu import gpu_hours_requested, sbatch_options
from cfcompile.backends.slurm.packing import Packing
from cfcompile.backends.slurm.retry import RETRY_MINUTES
from cfcompile.backends.slurm.site import SiteSettings


def sbatch_words(options: dict) -> list[str]:
    return [f"--{k}" if v is True else f"--{k}={shlex.quote(str(v))}" for k, v in options.items()]


def preview(packing: Packing, site: SiteSettings, experiment: str) -> list[str]:
    """The lines to print: each array's sbatch call and what it runs, then the retry job."""
    ids = {r.index: f"#{r.index}" for r in packing.requests}
    lines = []
    for r in packing.requests:
        n = len(r.tasks)
        words = [f"--array=0-{n - 1}" + (f"%{r.throttle}" if r.throttle else ""),
                 f"--time={r.time_min}"]  # fmt: skip
        gpu_words = sbatch_options(r.gpu_ask(), r.cpus)  # --cpus-per-task or --cpus-per-gpu
        words += sbatch_words({k: v for k, v in gpu_words.items() if k != "gpus"})
        if r.mem_mb:
            words.append(f"--mem={r.mem_mb}M")
        if r.gpus:
            words.append(f"--gpus={gpu_words['gpus']}")
        words += sbatch_words(r.options)
        dep = dependency(r, ids)
        if dep:
            words += [f"--dependency={dep}", "--kill-on-invalid-dep=yes"]
        words += ["--requeue", f"--job-name=cf-{experiment}-L{r.level}-{r.kind}"]
        per_task = {len(t) for t in r.tasks}
        size = f"{min(per_task)}-{max(per_task)}" if len(per_task) > 1 else f"{per_task.pop()}"
        lines.append(f"#{r.index} sbatch {' '.join(words)}")
        lines.append(
            f"    level {r.level} {r.kind}: {n} task(s) of {size} node(s), {r.nodes} node(s) "
            f"in all: {', '.join(r.stages)}"
        )
    if packing.retry_job and packing.requests:
        after = ":".join(ids[r.index] for r in packing.requests)
        words = [f"--time={RETRY_MINUTES}", "--mem=1000M", *sbatch_words(site.sbatch()),
                 f"--dependency=afterany:{after}", f"--job-name=cf-{experiment}-retry"]  # fmt: skip
        lines.append(f"#{len(packing.requests)} sbatch {' '.join(words)}")
        lines.append(
            "    the retry job: resubmits, once, what ran out of time or memory (retry: false "
            "in cfcompile.yaml turns it off)"
        )
    asked = gpu_hours_requested(packing.requests)
    if asked:
        lines.append("GPU-hours asked (GPUs x each task's time limit, per stage): "
                     + ", ".join(f"{s} {h:.2f}" for s, h in asked.items()))  # fmt: skip
    return lines
