"""``cfcompile EXPERIMENT -p PARAMS``: trace run(), build the StageGraph, write the workflow."""

from __future__ import annotations

import argparse
import os
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
    from cfcompile.cli import default_cache
    from cfcompile.job import file_digests
    from cfcompile.project import EXPERIMENTS, PARAMS
    from cfcompile.provenance import run_info
    from cfcompile.record import ArtifactManager
    from cfcompile.trace import TraceEngine

    module = project.experiment(experiment)
    sets = project.param_sets(experiment, param_names, names, indices)
    cache = default_cache(project.root, cache_path)
    workdir = workdir or default_workdir(project, experiment)
    engine = TraceEngine(os.path.join(workdir, "sources"), overwrite=overwrite)
    manager = ArtifactManager(experiment, cache_path=cache, prefix=prefix, engine=engine)
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


def default_workdir(project: Project, experiment: str) -> str:
    return str(project.root / ".cfcompile" / experiment)


def cmd_compile(args: argparse.Namespace) -> int:
    from cfcompile.emit import write_workflow

    project = Project.find(args.project)
    workdir = os.path.abspath(args.workflow_dir or default_workdir(project, args.experiment))
    sg = trace_project(
        project,
        args.experiment,
        args.params,
        names=args.names,
        indices=args.indices,
        cache_path=args.cache_path,
        prefix=args.prefix,
        overwrite=args.overwrite,
        workdir=workdir,
    )
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
