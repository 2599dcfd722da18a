"""``--run --profile slurm``: the site's settings and limits as Snakemake slurm-executor flags.

The same ``cfcompile.yaml`` the array route reads becomes the plugin's own options: QOS and
reservation (``--slurm-qos``, ``--slurm-reservation``), Slurm's log folder
(``--slurm-logdir``), the prologue (``--precommand``, run on the compute node before each
job), account, partition, constraint and extra sbatch flags as default resources
(``slurm_account``, ``slurm_partition``, ``constraint``, ``slurm_extra``), per-stage
overrides as ``--set-resources RULE:...`` for the rules that run that stage. The plugin
submits one job per Snakemake job (array tasks count one by one too), so ``--jobs`` is capped
by the room the site's submit limits leave; rules with many jobs go as arrays
(``--slurm-array-jobs``), cut at MaxArraySize. Arguments after ``--`` come last and win.
"""

from __future__ import annotations

import json
import os

from cfcompile.backends.profiles import profile_config
from cfcompile.backends.protocol import Prepared
from cfcompile.backends.slurm.limits import SiteLimits
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.backends.snakemake.emit import BATCH_RULE
from cfcompile.compiler.plan import Status
from cfcompile.core.workdir import MANIFEST

ARRAY_JOBS_FROM = 20
"""A rule with at least this many jobs is submitted as arrays: fewer sbatch calls for a
sweep, while a short workflow keeps the plain submission's quicker start."""
STAGE_RESOURCES = {"mem_mb": "mem_mb", "runtime": "runtime", "gpu": "gpu",
                   "gpu_model": "gpu_model", "cpus_per_gpu": "cpus_per_gpu",
                   "partition": "slurm_partition", "account": "slurm_account",
                   "constraint": "constraint", "qos": "qos"}  # fmt: skip


def _given(extra: list[str], *flags: str) -> bool:
    return any(a in flags or any(a.startswith(f + "=") for f in flags) for a in extra)


# long: one flag per setting, in the order the module docstring lists them
def slurm_args(
    site: SiteSettings,
    found: SiteLimits,
    profile_dir: str,
    version: str,
    extra: list[str],
    jobs_per_rule: dict[str, int],
) -> tuple[list[str], list[str]]:
    """(Snakemake arguments, sentences saying what the site decided)."""
    args: list[str] = []
    notes: list[str] = []
    config = profile_config(profile_dir)
    room, tightest = found.room()
    if room is not None and not _given(extra, "--jobs", "-j"):
        jobs = int(config.get("jobs") or 0)
        if not jobs or jobs > room:
            args += ["--jobs", str(max(1, room))]
            notes.append(
                f"--jobs {max(1, room)}: {tightest.name} is {tightest.limit} with "
                f"{tightest.used} {tightest.counted}"
            )
    for value, flag in ((site.qos, "--slurm-qos"), (site.reservation, "--slurm-reservation")):
        if value:
            args += [flag, str(value)]
    if site.log_dir:
        args += ["--slurm-logdir", os.path.abspath(os.path.expanduser(site.log_dir))]
    if site.prologue and not _given(extra, "--precommand"):
        args += ["--precommand", " && ".join(site.prologue)]
    defaults = [str(x) for x in config.get("default-resources", []) or []]
    ours = {"slurm_account": site.account, "slurm_partition": site.partition,
            "constraint": site.constraint}  # fmt: skip
    if site.sbatch_extra:
        ours["slurm_extra"] = " ".join(site.sbatch_extra)
    for key, value in ours.items():
        if value:
            defaults = [d for d in defaults if d.partition("=")[0].strip() != key]
            defaults.append(f"{key}={json.dumps(str(value))}")
    if any(ours.values()) and not _given(extra, "--default-resources"):
        args += ["--default-resources", *defaults]
    rules = _rules(version)
    settings = []
    for rule, stages in rules.items():
        for stage in stages:
            for key, value in site.stages.get(stage, {}).items():
                if key in STAGE_RESOURCES and value not in (None, ""):
                    text = value if isinstance(value, int) else json.dumps(str(value))
                    settings.append(f"{rule}:{STAGE_RESOURCES[key]}={text}")
    if settings:
        args += ["--set-resources", *settings]
    many = sorted(r for r, n in jobs_per_rule.items() if n >= ARRAY_JOBS_FROM)
    if many and not _given(extra, "--slurm-array-jobs"):
        limit = found.max_tasks_per_array if room is None else min(found.max_tasks_per_array, room)
        args += ["--slurm-array-jobs", ",".join(many), "--slurm-array-limit", str(max(1, limit))]
        notes.append(f"rules {', '.join(many)} go as arrays of at most {limit} tasks")
    return args, notes


def jobs_per_rule(compiled: Prepared) -> dict[str, int]:
    """How many jobs each rule of the written Snakefile has to run now."""
    to_run = {nid for nid, p in compiled.plans.items() if p.status == Status.RUN}
    in_units = {n.id for members in compiled.units.values() for n in members}
    per_stage: dict[str, int] = {}
    for nid in to_run - in_units:
        per_stage[nid[0]] = per_stage.get(nid[0], 0) + 1
    busy_units = sum(
        1 for members in compiled.units.values() if any(n.id in to_run for n in members)
    )
    out = {}
    for rule, stages in _rules(compiled.version).items():
        out[rule] = busy_units if rule == BATCH_RULE else sum(per_stage.get(s, 0) for s in stages)
    return out


def _rules(version: str) -> dict[str, list[str]]:
    try:
        with open(os.path.join(version, MANIFEST)) as f:
            return json.load(f).get("rules", {})
    except (OSError, ValueError):
        return {}
