"""``cfcompile EXPERIMENT -p PARAMS``: trace run(), build the StageGraph, write the workflow."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from cfcompile.project import Project


def trace_project(
    project: Project,
    experiment: str,
    param_names: list[str],
    names: list[str] | None = None,
    indices: list[str] | None = None,
    cache_path: str | None = None,
    prefix: str | None = None,
    overwrite: bool = False,
    workdir: str | None = None,
):
    """Run the experiment's run() under the tracer; returns the StageGraph."""
    from cfcompile import graph
    from cfcompile.job import file_digests
    from cfcompile.project import EXPERIMENTS, PARAMS
    from cfcompile.provenance import run_info
    from cfcompile.record import ArtifactManager
    from cfcompile.trace import TraceEngine

    module, sets = project.select(experiment, param_names, names, indices)
    cache = project.cache_path(cache_path)
    workdir = workdir or default_workdir(project, experiment)
    engine = TraceEngine(os.path.join(workdir, "sources"), overwrite=overwrite)
    manager = ArtifactManager(experiment, cache_path=cache, prefix=prefix, engine=engine)
    with trace_progress(engine, len(sets)):
        module.run(sets, manager)
    used = param_names or [experiment]
    param_modules = [
        f"{PARAMS}.{n}" if n in project.module_files(PARAMS) else f"{EXPERIMENTS}.{n}" for n in used
    ]
    watched = sorted(str(p) for p in (project.root / PARAMS).glob("*.py"))
    watched.append(str(project.root / EXPERIMENTS / f"{experiment}.py"))
    info = {
        "project_root": str(project.root),
        "experiment": experiment,
        "param_modules": param_modules,
        "cache_path": cache,
        "prefix": prefix,
        "python": sys.executable,
        "workdir": os.path.abspath(workdir),
        "digests": file_digests(watched),
        "run_info": run_info(str(project.root), experiment),
        "param_sets": [[p.name, p.hash] for p in sets],
    }
    return graph.build(engine.nodes, engine.params, engine.specs, info)


class trace_progress:
    """A rich progress bar over parameter sets while run() is traced (terminals, big sweeps)."""

    MIN_SETS = 2000

    def __init__(self, engine, total: int):
        self.engine, self.total, self.progress = engine, total, None

    def __enter__(self):
        if self.total < self.MIN_SETS or not sys.stderr.isatty():
            return self
        from rich.progress import Progress

        self.progress = Progress(transient=True)
        self.progress.start()
        task = self.progress.add_task("tracing run()", total=self.total)
        step = max(1, self.total // 200)

        def update(count: int) -> None:
            if count % step == 0:
                self.progress.update(task, completed=min(count, self.total))

        self.engine.on_params = update
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        self.engine.on_params = None
        return False


def default_workdir(project: Project, experiment: str) -> str:
    return str(project.root / ".cfcompile" / experiment)


def selection(args: argparse.Namespace) -> dict:
    """The command-line choice of parameter sets and cache, as keyword arguments."""
    return dict(
        names=args.names,
        indices=args.indices,
        cache_path=args.cache_path,
        prefix=args.prefix,
        overwrite=args.overwrite,
    )


def _trace(args: argparse.Namespace):
    project = Project.find(args.project)
    workdir = os.path.abspath(args.workflow_dir or default_workdir(project, args.experiment))
    sg = trace_project(project, args.experiment, args.params, workdir=workdir, **selection(args))
    return project, workdir, sg


def cmd_compile(args: argparse.Namespace) -> int:
    from cfcompile.emit import write_workflow

    _, workdir, sg = _trace(args)
    text = write_workflow(sg, workdir, batch=args.batch)
    if args.output:
        out = Path(args.output)
        out.write_text(text)
        print(
            f"cfcompile: wrote {out} ({sg.graph.number_of_nodes()} nodes); workflow files in "
            f"{workdir}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
        print(
            f"cfcompile: {sg.graph.number_of_nodes()} nodes; workflow files in {workdir}",
            file=sys.stderr,
        )
    return 0


def resolve_profile(profile: str) -> str:
    """A profile directory, or the name of a bundled one (local, slurm)."""
    if os.path.isdir(profile):
        return os.path.abspath(profile)
    here = Path(__file__).resolve().parent
    for base in (here / "cluster_profiles", here.parent / "cluster_profiles"):
        if (base / profile / "config.yaml").exists():
            return str(base / profile)
    from cfcompile.errors import CfcompileError

    raise CfcompileError(f"no Snakemake profile '{profile}': give a directory or 'local'/'slurm'")


def cmd_run(args: argparse.Namespace) -> int:
    """Compile, then run Snakemake on the written Snakefile; its exit code is ours."""
    import subprocess

    from cfcompile.emit import SNAKEFILE, write_workflow

    project, workdir, sg = _trace(args)
    write_workflow(sg, workdir, batch=args.batch)
    cmd = [sys.executable, "-m", "snakemake", "-s", os.path.join(workdir, SNAKEFILE)]
    if args.profile:
        cmd += ["--profile", resolve_profile(args.profile)]
    if args.cores or not args.profile:
        cmd += ["--cores", str(args.cores or "all")]
    cmd += list(args.snakemake_args)
    print(f"cfcompile: {' '.join(cmd)}", file=sys.stderr, flush=True)
    return subprocess.call(cmd, cwd=project.root)


def _profile_defaults(profile: str | None) -> dict:
    """slurm_partition / slurm_account / mem_mb / runtime from a profile's default-resources."""
    if not profile:
        return {}
    import yaml

    with open(os.path.join(resolve_profile(profile), "config.yaml")) as f:
        config = yaml.safe_load(f) or {}
    out = {}
    for item in config.get("default-resources", []) or []:
        key, _, value = str(item).partition("=")
        key = {"slurm_partition": "partition", "slurm_account": "account"}.get(key, key)
        out[key] = value.strip("'\"")
    return out


SLURM_NAME = re.compile(r"[A-Za-z0-9_.,:+-]+")


def cmd_submit(args: argparse.Namespace) -> int:
    from cfcompile.backends import submitit as backend
    from cfcompile.emit import write_workflow

    _, workdir, sg = _trace(args)
    write_workflow(sg, workdir, batch=args.batch)
    overrides = _profile_defaults(args.profile)
    for key in ("partition", "account"):
        if getattr(args, key):
            overrides[key] = getattr(args, key)
    for key in ("partition", "account"):
        value = overrides.get(key)
        if value and not SLURM_NAME.fullmatch(str(value)):
            from cfcompile.errors import CfcompileError

            raise CfcompileError(
                f"Slurm {key} {value!r} is not a plain name (letters, digits, . _ - , :); it "
                "goes into an sbatch script, where anything else could inject directives"
            )
    overrides.update(force_runtime=args.time, force_mem_mb=args.mem_mb, force_gpus=args.gpus)
    arrays = backend.submit(sg, workdir, cluster=args.submit, overrides=overrides)
    if not arrays:
        print("cfcompile: nothing to submit: every node is cached", file=sys.stderr)
        return 0
    for arr in arrays:
        deps = ",".join(arrays[d].job_id or "?" for d in sorted(arr.depends)) or "-"
        print(
            f"{arr.job_id}\tlevel {arr.level} {arr.kind}: {len(arr.tasks)} task(s), "
            f"{sum(len(t) for t in arr.tasks)} node(s), after {deps}"
        )
    if args.submit == "slurm":
        print(f"cfcompile: submitted {len(arrays)} array(s); check with --status", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from cfcompile.status import format_status, node_status

    _, workdir, sg = _trace(args)
    print(format_status(node_status(sg, workdir)))
    return 0
