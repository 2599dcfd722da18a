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

from cfcompile.backends import slurm, snakemake
from cfcompile.backends.protocol import Backend, Compiled
from cfcompile.backends.slurm import usage
from cfcompile.compiler.explain import explain, forced_by_code
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import BatchChoice, batch_units, choose_batch
from cfcompile.compiler.plan import (
    CODE_SAMPLE,
    CacheView,
    NodePlan,
    Status,
    plan,
    set_aside_unfinished,
)
from cfcompile.compiler.reuse_plan import reuse_plan
from cfcompile.compiler.trace import trace_project
from cfcompile.compiler.version import check_name_lengths, compile_lock, write_workflow_files
from cfcompile.core.ir import NodeId
from cfcompile.core.provenance import run_info
from cfcompile.core.streams import release_stdout
from cfcompile.core.transaction import sweep_stale_staging
from cfcompile.core.workdir import SNAKEFILE, SUBMISSIONS, default_workdir, file_digests
from cfcompile.errors import ProjectError
from cfcompile.project.discover import EXPERIMENTS, PARAMS, ModuleInfo, Project
from cfcompile.record import ArtifactManager
from cfcompile.runtime import prefork
from cfcompile.views import critical_path, dag, networks
from cfcompile.views.dryrun import add_reuse, print_plan, summarize, units_summary
from cfcompile.views.usage_table import print_usage


@dataclass
class Built:
    """What every mode starts from: the project, the workflow folder, the graph and its plan."""

    project: Project
    workdir: str
    sg: StageGraph
    plans: dict[NodeId, NodePlan]
    planned_at: float
    view: CacheView  # the cache listings the plan read; explanations reuse them
    warm: prefork.Prefork | None = None  # a worker forked for this compile's local jobs


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


@contextlib.contextmanager
def suggesting(project: Project, args: argparse.Namespace) -> Iterator[None]:
    """Add "did you mean" to the project's refusal of a misspelt experiment or -p name."""
    try:
        yield
    except ProjectError as exc:
        hints = project.name_hints(args.experiment, args.params)
        if not hints:
            raise
        raise ProjectError(f"{exc}. {'; '.join(hints)}") from exc


def build(args: argparse.Namespace, warm: bool = False) -> Built:
    """Select, trace, graph and plan once. ``--rerun-changed-code`` forces the nodes whose
    stage code changed, as overwrite does, so that a batch job runs them even though their
    outputs exist (a job's own rule skips cached members). With ``warm`` (this machine will
    run the jobs), a worker is forked once the project is imported (``runtime.prefork``)."""
    project = Project.find(args.project)
    workdir = os.path.abspath(
        args.workflow_dir or default_workdir(str(project.root), args.experiment)
    )
    forked = None
    with researcher_output_to_stderr(), suggesting(project, args):
        if warm and prefork.wanted():
            forked = prefork.start(
                workdir,
                lambda: project.import_modules(args.experiment, args.params),
                str(project.root),
            )
        sg = trace_project(project, args.experiment, args.params, workdir, **selection(args))
    # the recompile check also watches parameter modules in subfolders or in a configured
    # folder (curifactory_config.json), not only params/*.py
    watched = project.watched_files(args.experiment, args.params)
    sg.info.digests.update(file_digests([p for p in watched if p not in sg.info.digests]))
    sg.info.reuse = not getattr(args, "no_reuse", False)
    sg.info.reuse_learned = sg.info.reuse and getattr(args, "reuse", False)
    planned_at = time.time()
    view = CacheView()
    rerun_code = getattr(args, "rerun_changed_code", False)
    plans = plan(sg, view, rerun_changed_code=rerun_code)
    for nid in forced_by_code(plans.values()):
        sg.node(nid).force = True
    return Built(project, workdir, sg, plans, planned_at, view, forked)


def local_cores(args: argparse.Namespace) -> int | None:
    """What ``--batch auto`` balances over on this machine: ``--cores``, else all of them."""
    cores = getattr(args, "cores", None)
    return int(cores) if cores and str(cores).isdigit() else None


def prepare(
    b: Built,
    batch: int | str,
    backend: Backend | None = None,
    cores: int | None = None,
    choice: BatchChoice | None = None,
) -> Compiled:
    """Write the version folder every backend's jobs read, then what ``backend``'s scheduler
    reads, under the compile lock, so two compiles of one workflow never interleave writes.
    ``choice`` is a grouping decided elsewhere (on Slurm), else ``--batch`` over ``cores``."""
    check_name_lengths([t for n in b.sg.nodes() for t in n.targets()])
    choice = choice or choose_batch(b.sg, batch, cores)
    units = batch_units(b.sg, choice.k, choice.even)
    set_aside_unfinished(b.plans)  # outputs without metadata: a unit's job must see them missing
    to_run = {nid for nid, p in b.plans.items() if p.status == Status.RUN}
    with compile_lock(b.workdir):
        version = write_workflow_files(
            b.sg.info, b.sg.nodes(), b.sg.params, units, to_run, b.planned_at
        )
        compiled = Compiled(b.sg, b.plans, b.workdir, version, units, choice)
        if backend is not None:
            backend.prepare(compiled)
    for folder in sorted({os.path.dirname(t) for n in b.sg.nodes() for t in n.targets()}):
        sweep_stale_staging(folder)  # what killed jobs (SIGKILL, OOM) left on this host
    return compiled


# -- compile and run -------------------------------------------------------------------------
def cmd_compile(args: argparse.Namespace) -> int:
    b = build(args, warm=True)
    version = prepare(b, args.batch, snakemake.BACKEND).version
    if b.warm:
        b.warm.announce(version)  # before the Snakefile: the first job finds it answering
    text = Path(version, SNAKEFILE).read_text()
    count = b.sg.graph.number_of_nodes()
    if args.output:
        Path(args.output).write_text(text)
        where = f"wrote {args.output} ({count} nodes)"
    else:
        sys.stdout.write(text)
        if not sys.stdout.isatty():
            release_stdout()  # Snakemake reading the pipe starts parsing now, not at our exit
        where = f"{count} nodes"
    print(f"cfcompile: {where}; workflow files in {b.workdir}", file=sys.stderr)
    return 0


def cmd_eager(args: argparse.Namespace) -> int:
    """``run()`` in this process, like curifactory's ``experiment EXP -p P``."""
    project = Project.find(args.project)
    with suggesting(project, args):
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
        folders=True,  # curifactory's experiment command makes them: code may write there
        **project.manager_paths(),
    )
    manager.reuse = not getattr(args, "no_reuse", False)
    manager.reuse_learned = manager.reuse and getattr(args, "reuse", False)
    module.run(sets, manager)
    engine = manager.engine
    print(
        f"eager run of '{args.experiment}': {len(engine.ran)} stage(s) ran, "
        f"{len(engine.cached)} cached; cache: {cache}",
        file=sys.stderr,
    )
    return 0


# -- views -----------------------------------------------------------------------------------
def slurm_usage(b: Built, fresh: bool = True) -> tuple[list[dict], str | None]:
    """Requested vs used per stage from earlier Slurm tasks, and what --fit-resources would
    ask for instead; nothing for a workflow never submitted to Slurm. ``fresh=False`` after
    the backends' states, which have just recorded what sacct knows."""
    if not os.path.exists(os.path.join(b.workdir, SUBMISSIONS)):
        return [], None
    per_stage = slurm.stage_usage(b.sg, b.workdir, fresh)
    fits = usage.fit(per_stage)
    hint = None
    if fits:
        asks = ", ".join(f"{stage} {mem} MB" for stage, (mem, _) in fits.items())
        hint = f"--fit-resources would ask for: {asks} (p95 peak, x{usage.HEADROOM} headroom)"
    return usage.rows(per_stage), hint


def cmd_dry_run(args: argparse.Namespace) -> int:
    b = build(args)
    rerun_code = getattr(args, "rerun_changed_code", False)
    # with --rerun-changed-code the plan has read every cached node's metadata already
    changed_params, code = explain(b.sg, b.plans, b.view, sample=0 if rerun_code else CODE_SAMPLE)
    summary = summarize(b.sg, b.plans, changed_params, code, rerun_code)
    add_reuse(summary, b.sg, reuse_plan(b.sg, b.plans))
    choice = choose_batch(b.sg, args.batch, local_cores(args))
    summary["units"] = units_summary(b.plans, batch_units(b.sg, choice.k, choice.even), choice)
    cores = local_cores(args) or os.cpu_count() or 1
    found = critical_path.estimate(b.sg, b.plans, cores)
    summary["critical_path"] = found.as_dict() if found is not None else None
    rows, hint = slurm_usage(b)
    if rows:
        summary["slurm_usage"] = rows
    if args.json:
        # no indent: json's C encoder only serves compact output (20,000 nodes: 0.7 s saved)
        sys.stdout.write(json.dumps(summary, separators=(",", ":")))
        sys.stdout.write("\n")
    else:
        print_plan(summary)
        print_usage(rows, hint)
    return 0


def cmd_dag(args: argparse.Namespace) -> int:
    b = build(args)
    fmt = args.dag
    failed = dag.failed_nodes(b.workdir, b.sg, b.plans)
    if fmt in ("svg", "png"):
        dot = dag.to_dot(b.sg, b.plans, args.dag_level, failed)
        path = args.output or os.path.join(b.workdir, f"dag.{fmt}")
        data = dag.render(dot, fmt)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        level = dag.choose_level(b.sg, args.dag_level)
        print(f"cfcompile: wrote {path} ({level} graph)", file=sys.stderr)
        return 0
    if fmt in ("graphml", "json"):  # data for Gephi, Cytoscape, pandas: every node unless asked
        if args.dag_level == "stages":
            g = networks.stage_graph(b.sg, b.plans, failed)
        else:
            g = networks.node_graph(b.sg, b.plans, failed)
        text = networks.to_graphml(g) if fmt == "graphml" else networks.to_json(g)
    elif fmt == "dot":
        text = dag.to_dot(b.sg, b.plans, args.dag_level, failed)
    else:
        text = dag.to_mermaid(b.sg, b.plans, args.dag_level, failed)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    """Experiments and parameter files in aligned columns: name, status, first docstring line.

    The status says whether the module can be used (``ok``, ``import error``, ``no run()``,
    ``no get_params()``); for an import error the last column is the error instead of the
    docstring, because that is what the researcher must fix. One width for both sections, so
    the columns line up down the whole listing.
    """
    project = Project.find(args.project)
    experiments = project.describe(EXPERIMENTS)
    # experiment files with their own get_params() count as parameter files too
    params = project.describe(PARAMS) + [i for i in experiments if i.has_get_params]
    sections = [
        ("EXPERIMENTS", [ls_row(i, EXPERIMENTS) for i in experiments]),
        ("PARAMS", [ls_row(i, PARAMS) for i in params]),
    ]
    rows = [r for _, infos in sections for r in infos]
    width = [max((len(r[c]) for r in rows), default=0) for c in (0, 1)]
    print(f"PROJECT: {project.root}")
    for title, infos in sections:
        print(f"\n{title}:")
        if not infos:
            print("  (none)")
        for name, status, text in infos:
            line = f"  {name:<{width[0]}}  {status:<{width[1]}}  {text}"
            print(line.rstrip())
    return 0


def ls_row(info: ModuleInfo, kind: str) -> tuple[str, str, str]:
    """(name, status, description) of one module in ``cfcompile ls``."""
    name = info.name if info.kind == kind else f"{info.name} ({info.kind}/)"
    text = info.doc.splitlines()[0] if info.doc else ""
    if info.error:
        status, text = "import error", info.error.splitlines()[-1]
    elif kind == EXPERIMENTS and not info.has_run:
        status = "no run()"
    elif kind == PARAMS and not info.has_get_params:
        status = "no get_params()"
    else:
        status = "ok"
    return name, status, text
