"""One function per mode of ``cfcompile``: select -> trace -> graph -> plan once -> one consumer.

``build`` is the shared front half (it computes the plan exactly once); each ``cmd_*`` hands
its result to one backend or one view. The CLI parses arguments and picks one of these.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cfcompile.backends import all_backends, snakemake, submitit
from cfcompile.errors import CfcompileError
from cfcompile.graph import StageGraph
from cfcompile.grouping import BatchChoice, batch_units, choose_batch
from cfcompile.ir import Node, NodeId
from cfcompile.plan import RUN, NodePlan, plan, set_aside_unfinished
from cfcompile.project import EXPERIMENTS, PARAMS, Project
from cfcompile.provenance import run_info
from cfcompile.publish import sweep_stale_staging
from cfcompile.record import ArtifactManager
from cfcompile.results import collect, write_selection
from cfcompile.trace import trace_project
from cfcompile.versions import check_name_lengths, compile_lock, write_workflow_files
from cfcompile.views import dag
from cfcompile.views.dryrun import print_plan, summarize
from cfcompile.views.report import build_report, write_report
from cfcompile.views.results_table import print_table, sort_rows
from cfcompile.views.status import node_status, print_status
from cfcompile.workdir import SNAKEFILE, default_workdir, load_failure


@dataclass
class Built:
    """What every mode starts from: the project, the workflow folder, the graph and its plan."""

    project: Project
    workdir: str
    sg: StageGraph
    plans: dict[NodeId, NodePlan]
    planned_at: float


def selection(args: argparse.Namespace) -> dict:
    """The command-line choice of parameter sets and cache, as keyword arguments."""
    return dict(
        names=args.names,
        indices=args.indices,
        cache_path=args.cache_path,
        prefix=args.prefix,
        overwrite=args.overwrite,
    )


@contextlib.contextmanager
def researcher_output_to_stderr() -> Iterator[None]:
    """Send whatever the researcher's code prints to stderr, never to stdout.

    stdout may be the Snakefile (``cfcompile X | snakemake -s /dev/stdin``): a ``print()`` in
    run(), get_params() or at import would become Snakefile code. Python-level prints are
    redirected, and file descriptor 1 itself points at stderr meanwhile, so C extensions and
    subprocesses cannot write there either.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def build(args: argparse.Namespace) -> Built:
    project = Project.find(args.project)
    workdir = os.path.abspath(
        args.workflow_dir or default_workdir(str(project.root), args.experiment)
    )
    with researcher_output_to_stderr():
        sg = trace_project(project, args.experiment, args.params, workdir, **selection(args))
    planned_at = time.time()
    return Built(project, workdir, sg, plan(sg), planned_at)


@dataclass
class Prepared:
    units: dict[str, list[Node]]
    version: str  # the compiled version folder jobs read


CLUSTER_SLOTS = 200
"""Jobs a cluster runs at once, as the bundled slurm profile's ``jobs: 200``: what automatic
grouping balances over on Slurm instead of this machine's cores."""


def cores_for(args: argparse.Namespace) -> int | None:
    """What ``--batch auto`` balances over: the cluster's slots on Slurm, else local cores."""
    if getattr(args, "submit", None) == "slurm" or getattr(args, "profile", None) == "slurm":
        return CLUSTER_SLOTS
    cores = getattr(args, "cores", None)
    return int(cores) if cores and str(cores).isdigit() else None


def prepare(
    b: Built, batch: int | str, emit_snakefile: bool = True, cores: int | None = None
) -> Prepared:
    """Write the workflow folder every backend's jobs read (and the Snakefile), under the
    compile lock, so two compiles of one workflow never interleave their writes."""
    check_name_lengths([t for n in b.sg.nodes() for t in n.targets()])
    units = batch_units(b.sg, choose_batch(b.sg, batch, cores).k)
    set_aside_unfinished(b.plans)  # outputs without metadata: a unit's job must see them missing
    to_run = {nid for nid, p in b.plans.items() if p.status == RUN}
    with compile_lock(b.workdir):
        version = write_workflow_files(
            b.sg.info, b.sg.nodes(), b.sg.params, units, to_run, b.planned_at
        )
        if emit_snakefile:
            snakemake.write_snakefile(b.sg, b.workdir, version, units)
    for folder in sorted({os.path.dirname(t) for n in b.sg.nodes() for t in n.targets()}):
        sweep_stale_staging(folder)  # what killed jobs (SIGKILL, OOM) left on this host
    return Prepared(units, version)


# -- compile and run -------------------------------------------------------------------------
def cmd_compile(args: argparse.Namespace) -> int:
    b = build(args)
    version = prepare(b, args.batch).version
    text = Path(version, SNAKEFILE).read_text()
    count = b.sg.graph.number_of_nodes()
    if args.output:
        Path(args.output).write_text(text)
        where = f"wrote {args.output} ({count} nodes)"
    else:
        sys.stdout.write(text)
        where = f"{count} nodes"
    print(f"cfcompile: {where}; workflow files in {b.workdir}", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Compile, then run Snakemake on the written Snakefile; its exit code is ours."""
    b = build(args)
    version = prepare(b, args.batch, cores=cores_for(args)).version
    return snakemake.run_snakemake(
        version, str(b.project.root), args.profile, args.cores, args.snakemake_args
    )


def cmd_submit(args: argparse.Namespace) -> int:
    overrides = snakemake.profile_defaults(args.profile)
    for key in ("partition", "account"):
        if getattr(args, key):
            overrides[key] = getattr(args, key)
    submitit.check_overrides(overrides)  # before any work: a bad name is refused at once
    overrides.update(force_runtime=args.time, force_mem_mb=args.mem_mb, force_gpus=args.gpus)
    b = build(args)
    cores = cores_for(args)
    version = prepare(b, args.batch, emit_snakefile=False, cores=cores).version
    batch = max(1, choose_batch(b.sg, args.batch, cores).k)
    arrays, failures = submitit.submit(
        b.sg, b.plans, b.workdir, version, args.submit, overrides, batch
    )
    if not arrays:
        print("cfcompile: nothing to submit: every node is cached", file=sys.stderr)
        return 0
    for arr in arrays:
        deps = ",".join(arrays[d].job_id or "-" for d in sorted(arr.depends)) or "-"
        print(
            f"{arr.job_id or 'skipped'}\tlevel {arr.level} {arr.kind}: {len(arr.tasks)} "
            f"task(s), {sum(len(t) for t in arr.tasks)} node(s), after {deps}"
        )
    if args.submit == "slurm":
        print(f"cfcompile: submitted {len(arrays)} array(s); check with --status", file=sys.stderr)
        return 0
    for task, message in failures:
        recorded = [(nid, load_failure(b.workdir, nid)) for nid in task]
        nid, failure = next(((n, f) for n, f in recorded if f), (task[0], None))
        text = failure["message"] if failure else message
        print(f"cfcompile: failed: {nid[0]} [{b.sg.node(nid).label}]: {text}", file=sys.stderr)
    if failures:
        print(
            f"cfcompile: {len(failures)} task(s) failed; their dependents were skipped. "
            "See --status for each node and its log.",
            file=sys.stderr,
        )
    return 1 if failures else 0


def cmd_eager(args: argparse.Namespace) -> int:
    """``run()`` in this process, like curifactory's ``experiment EXP -p P``."""
    project = Project.find(args.project)
    module, sets = project.select(
        args.experiment, args.params, args.names, args.indices, for_jobs=False
    )
    cache = project.cache_path(args.cache_path)
    if os.path.isdir(cache):
        sweep_stale_staging(cache)
    manager = ArtifactManager(
        experiment_name=args.experiment,
        cache_path=cache,
        prefix=args.prefix,
        overwrite=args.overwrite,
        run_info=run_info(str(project.root), args.experiment),
    )
    module.run(sets, manager)
    engine = manager.engine
    print(
        f"eager run of '{args.experiment}': {len(engine.ran)} stage(s) ran, "
        f"{len(engine.cached)} cached; cache: {cache}",
        file=sys.stderr,
    )
    return 0


# -- views -----------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    b = build(args)  # status never rewrites the workflow folder: jobs may be reading it
    jobs: dict = {}
    for backend in all_backends():
        jobs.update(backend.states(b.workdir))
    print_status(node_status(b.sg, b.plans, b.workdir, jobs))
    return 0


def cmd_dry_run(args: argparse.Namespace) -> int:
    b = build(args)
    summary = summarize(b.sg, b.plans)
    choice = choose_batch(b.sg, args.batch, cores_for(args))
    summary["units"] = job_units(b, batch_units(b.sg, choice.k), choice)
    if args.json:
        # no indent: json's C encoder only serves compact output (20,000 nodes: 0.7 s saved)
        sys.stdout.write(json.dumps(summary, separators=(",", ":")))
        sys.stdout.write("\n")
    else:
        print_plan(summary)
    return 0


def job_units(b: Built, units: dict[str, list[Node]], choice: BatchChoice) -> dict:
    """How the nodes to run become jobs: what --dry-run reports about grouping."""
    to_run = {nid for nid, p in b.plans.items() if p.status == RUN}
    in_unit = {n.id for members in units.values() for n in members}
    busy = [name for name, members in units.items() if any(n.id in to_run for n in members)]
    alone = [nid for nid in to_run if nid not in in_unit]
    return {
        "jobs": len(busy) + len(alone),
        "units": len(busy),
        "sets_per_unit": choice.k,
        "single_node_jobs": len(alone),
        "why": choice.why,
    }


def cmd_dag(args: argparse.Namespace) -> int:
    b = build(args)
    fmt = args.dag
    dot = dag.to_dot(b.sg, b.plans, args.dag_level)
    if fmt in ("svg", "png"):
        path = args.output or os.path.join(b.workdir, f"dag.{fmt}")
        data = dag.render(dot, fmt)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        level = dag.choose_level(b.sg, args.dag_level)
        print(f"cfcompile: wrote {path} ({level} graph)", file=sys.stderr)
        return 0
    text = dot if fmt == "dot" else dag.to_mermaid(b.sg, b.plans, args.dag_level)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    b = build(args)
    try:
        svg = dag.render(dag.to_dot(b.sg, b.plans, args.dag_level), "svg").decode()
        svg = svg[svg.find("<svg") :]
    except CfcompileError as exc:
        print(f"cfcompile: warning: {exc}", file=sys.stderr)
        svg = None
    page = build_report(b.sg, b.plans, svg)
    if args.output:
        path = args.output
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(page)
    else:  # reports/EXP-<stamp>.html, reports/EXP.html (latest), reports/index.html
        written = write_report(page, str(b.project.root / "reports"), args.experiment)
        path = written["stamped"]
        print(f"cfcompile: latest {written['latest']}, index {written['index']}", file=sys.stderr)
    print(f"cfcompile: wrote {path}", file=sys.stderr)
    print(path)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """Compile (so the table covers exactly these parameter sets), collect, write, print."""
    b = build(args)
    table = collect(prepare(b, args.batch, emit_snakefile=False).version)
    paths = write_selection(table, b.sg.info)
    rows = sort_rows(table, args.sort, args.desc)
    print_table(rows, top=getattr(args, "top", None), columns=getattr(args, "columns", None))
    print(f"cfcompile: wrote {', '.join(paths)}", file=sys.stderr)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    """Experiments and parameter files, with docstrings and import errors."""
    project = Project.find(args.project)
    print(f"PROJECT: {project.root}")
    for kind, title in ((EXPERIMENTS, "EXPERIMENTS"), (PARAMS, "PARAMS")):
        print(f"\n{title}:")
        infos = project.describe(kind)
        if kind == PARAMS:  # experiment files with their own get_params() count as params too
            infos += [i for i in project.describe(EXPERIMENTS) if i.has_get_params]
        if not infos:
            print("  (none)")
        for info in infos:
            summary = info.doc.splitlines()[0] if info.doc else ""
            where = "" if info.kind == kind else f" ({info.kind}/)"
            line = f"  {info.name}{where}"
            if info.error:
                line += f"  [import error: {info.error.splitlines()[-1]}]"
            elif kind == EXPERIMENTS and not info.has_run:
                line += "  [no run() function]"
            elif kind == PARAMS and not info.has_get_params:
                line += "  [no get_params() function]"
            if summary:
                line += f"  - {summary}"
            print(line)
    return 0
