"""The modes that start jobs: ``--run`` (Snakemake, here or through its slurm executor),
``--submit`` (job arrays, submit and exit), ``--cancel``, and ``--init-profile``.

Both Slurm routes read one description of the site: the profile (``--profile NAME``: the
project's ``cluster_profiles/NAME`` first, then the bundled one), the ``cfcompile.yaml``
beside its ``config.yaml``, the profile's default-resources, and the command line on top.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from cfcompile.backends import slurm, snakemake
from cfcompile.backends.profiles import (
    is_slurm,
    profile_defaults,
    require_module,
    resolve_profile,
)
from cfcompile.backends.protocol import Launch, Prepared
from cfcompile.backends.slurm import gpu, limits, site
from cfcompile.backends.slurm.packing import snakemake_batch
from cfcompile.backends.slurm.requests import Demands
from cfcompile.backends.snakemake.on_slurm import jobs_per_rule, slurm_args
from cfcompile.cli.parsed import local_cores, selection
from cfcompile.compiler.grouping import BatchChoice, choose_batch
from cfcompile.core.workdir import default_workdir
from cfcompile.driver.pipeline import build, prepare, slurm_usage
from cfcompile.errors import CfcompileError
from cfcompile.project.discover import Project
from cfcompile.views.usage_table import print_usage


def say(text: str) -> None:
    print(f"cfcompile: {text}", file=sys.stderr)


def site_settings(args: argparse.Namespace, profile_dir: str) -> tuple[site.SiteSettings, Demands]:
    """The site's settings and the resource demands: flags, then cfcompile.yaml, then the
    profile's default-resources. Checked before anything is traced or submitted."""
    settings = site.load(profile_dir)
    defaults = profile_defaults(profile_dir)
    flags = {
        key: getattr(args, key, None)
        for key in ("account", "partition", "qos", "constraint", "reservation", "max_running")
    }
    inherited = {
        key: defaults[key]
        for key in ("account", "partition")
        if flags[key] is None and not getattr(settings, key) and defaults.get(key)
    }
    site.SiteSettings(**inherited, source=os.path.join(profile_dir, "config.yaml")).check()
    settings = settings.with_flags(**flags).with_flags(**inherited)
    demands = Demands(
        time_min=getattr(args, "time", None),
        mem_mb=getattr(args, "mem_mb", None),
        gpus=getattr(args, "gpus", None),
        default_time_min=_whole(defaults.get("runtime")) or 60,
        default_mem_mb=_whole(defaults.get("mem_mb")),
    )
    return settings, demands


def _whole(value) -> int | None:
    return int(value) if value is not None and str(value).isdigit() else None


def cmd_run(args: argparse.Namespace) -> int:
    """Compile, then run Snakemake on the written Snakefile; its exit code is ours. With a
    slurm profile, jobs are sized for the cluster and the site's settings become flags."""
    project = Project.find(args.project)
    profile_dir = resolve_profile(args.profile, str(project.root)) if args.profile else None
    on_slurm = bool(profile_dir) and is_slurm(profile_dir)
    extra = list(args.snakemake_args)
    if not on_slurm:
        b = build(selection(args), warm=True)
        compiled = prepare(b, args.batch, snakemake.BACKEND, cores=local_cores(args))
        if b.warm:
            b.warm.announce(compiled.version)
    else:
        require_module("snakemake_executor_plugin_slurm", "--profile slurm (Snakemake's slurm "
                       "executor; --submit slurm needs none)", "slurm")  # fmt: skip
        settings, _ = site_settings(args, profile_dir)
        b = build(selection(args))
        gpu.check_declared(list(b.sg.nodes()))  # a GPU type becomes an sbatch word
        choice = snakemake_batch(b.sg, settings, args.batch)
        say(f"grouping: {choice.why}")
        compiled = prepare(b, args.batch, snakemake.BACKEND, choice=choice)
        found = limits.read(settings.account, settings.qos)
        say(f"site limits: {found.describe()}")
        ours, notes = slurm_args(settings, found, profile_dir, compiled.version, extra,
                                 jobs_per_rule(compiled))  # fmt: skip
        for note in notes:
            say(note)
        extra = ours + extra
    how = Launch(str(b.project.root), profile_dir, args.cores, extra)
    return snakemake.BACKEND.launch(compiled, how)


def cmd_submit(args: argparse.Namespace) -> int:
    """Pack for the site and submit (or, with --dry-run, print the sbatch requests)."""
    project = Project.find(args.project)
    profile_dir = resolve_profile(args.profile or "slurm", str(project.root))
    settings, demands = site_settings(args, profile_dir)  # a bad value is refused at once
    b = build(selection(args))
    if args.dry_run:  # nothing is written: the plan is enough to pack
        compiled = Prepared(b.sg, b.plans, b.workdir, "", {}, BatchChoice(0, "--dry-run"))
        if args.submit != "slurm":
            compiled = replace(compiled, batch=_local_batch(b, args))
    elif args.submit == "slurm":  # array tasks name their nodes: no Snakemake units
        compiled = prepare(b, 1, slurm.BACKEND)
    else:
        compiled = prepare(b, args.batch, slurm.BACKEND, cores=local_cores(args))
    how = Launch(
        str(b.project.root),
        profile_dir,
        cluster=args.submit,
        site=settings,
        demands=demands,
        batch=args.batch,
        fit=args.fit_resources,
        preview=args.dry_run,
    )
    code = slurm.BACKEND.launch(compiled, how)
    if args.dry_run:
        print_usage(*slurm_usage(b))
    return code


def _local_batch(b, args: argparse.Namespace) -> BatchChoice:
    return choose_batch(b.sg, args.batch, local_cores(args))


def cmd_cancel(args: argparse.Namespace) -> int:
    """scancel what this workflow submitted and is still queued or running."""
    project = Project.find(args.project)
    workdir = os.path.abspath(
        args.workflow_dir or default_workdir(str(project.root), args.experiment)
    )
    cancelled = slurm.BACKEND.cancel(workdir)
    if cancelled:
        say(f"cancelled {len(cancelled)} job(s): {' '.join(cancelled)}")
    else:
        say("nothing of this workflow is queued or running")
    return 0


def cmd_init_profile(target: str) -> int:
    """Copy the bundled profiles into TARGET/cluster_profiles/ to edit for a site."""
    if not os.path.isdir(target):
        raise CfcompileError(f"{target} is not a folder: give the project's folder")
    for folder in site.init_profiles(target):
        print(folder)
    say(
        "edit cluster_profiles/slurm/cfcompile.yaml (account, partition, prologue, ...) and "
        "config.yaml; --profile slurm and --submit slurm use this copy from now on"
    )
    return 0
