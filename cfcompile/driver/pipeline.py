"""From a selection to a compiled version: select, trace, graph, plan once, then one consumer.

``build`` is the front half every mode shares (it computes the plan exactly once);
``prepare`` writes the version folder and what a backend's scheduler reads. The command line
calls these through ``cli``; a notebook or a script calls them (or ``api``'s shorter
functions) with a ``Selection`` of its own.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from cfcompile.backends import slurm
from cfcompile.backends.protocol import Backend, Prepared
from cfcompile.backends.slurm import usage
from cfcompile.compiler.explain import forced_by_code
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import BatchChoice, batch_units, choose_batch
from cfcompile.compiler.plan import CacheView, NodePlan, Status, plan, set_aside_unfinished
from cfcompile.compiler.trace import trace_project
from cfcompile.compiler.version import check_name_lengths, compile_lock, write_workflow_files
from cfcompile.core.ir import NodeId
from cfcompile.core.transaction import sweep_stale_staging
from cfcompile.core.workdir import SUBMISSIONS, default_workdir, file_digests
from cfcompile.driver.selection import ReuseMode, Selection
from cfcompile.errors import ProjectError
from cfcompile.project.discover import Project
from cfcompile.runtime import gpu_slots, prefork


@dataclass
class Built:
    """What every mode starts from: the project, the workflow folder, the graph and its plan."""

    project: Project
    workdir: str
    sg: StageGraph
    plans: dict[NodeId, NodePlan]
    planned_at: float
    view: CacheView  # the cache listings the plan read; explanations reuse them
    selection: Selection
    warm: prefork.Prefork | None = None  # a worker forked for this compile's local jobs


def workdir_of(project: Project, selection: Selection) -> str:
    """The workflow folder: ``--workflow-dir``, else ``.cfcompile/EXPERIMENT`` in the project."""
    chosen = selection.workflow_dir or default_workdir(str(project.root), selection.experiment)
    return os.path.abspath(chosen)


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
def suggesting(project: Project, selection: Selection) -> Iterator[None]:
    """Add "did you mean" to the project's refusal of a misspelt experiment or -p name."""
    try:
        yield
    except ProjectError as exc:
        hints = project.name_hints(selection.experiment, list(selection.params) or None)
        if not hints:
            raise
        raise ProjectError(f"{exc}. {'; '.join(hints)}") from exc


def build(selection: Selection, warm: bool = False) -> Built:
    """Select, trace, graph and plan once. ``--rerun-changed-code`` forces the nodes whose
    stage code changed, as overwrite does, so that a batch job runs them even though their
    outputs exist (a job's own rule skips cached members). With ``warm`` (this machine will
    run the jobs), a worker is forked once the project is imported (``runtime.prefork``)."""
    project = Project.find(selection.project)
    workdir = workdir_of(project, selection)
    params = list(selection.params) or None
    forked = None
    with researcher_output_to_stderr(), suggesting(project, selection):
        if warm and prefork.wanted():
            forked = prefork.start(
                workdir,
                lambda: project.import_modules(selection.experiment, params),
                str(project.root),
            )
        sg = trace_project(
            project,
            selection.experiment,
            params,
            workdir,
            names=list(selection.names) if selection.names else None,
            indices=list(selection.indices) if selection.indices else None,
            cache_path=selection.cache_path,
            prefix=selection.prefix,
            overwrite=selection.overwrite,
        )
    # the recompile check also watches parameter modules in subfolders or in a configured
    # folder (curifactory_config.json), not only params/*.py
    watched = project.watched_files(selection.experiment, params)
    sg.info.digests.update(file_digests([p for p in watched if p not in sg.info.digests]))
    sg.info.reuse = selection.reuse != ReuseMode.OFF
    sg.info.reuse_learned = selection.reuse == ReuseMode.LEARNED
    sg.info.where = selection.where_words()
    planned_at = time.time()
    view = CacheView()
    plans = plan(sg, view, rerun_changed_code=selection.rerun_changed_code)
    for nid in forced_by_code(plans.values()):
        sg.node(nid).force = True
    return Built(project, workdir, sg, plans, planned_at, view, selection, forked)


def prepare(
    b: Built,
    batch: int | str | None = None,
    backend: Backend | None = None,
    cores: int | None = None,
    choice: BatchChoice | None = None,
) -> Prepared:
    """Write the version folder every backend's jobs read, then what ``backend``'s scheduler
    reads, under the compile lock, so two compiles of one workflow never interleave writes.
    ``choice`` is a grouping decided elsewhere (on Slurm), else ``batch`` (the selection's
    by default) over ``cores``."""
    check_name_lengths([t for n in b.sg.nodes() for t in n.targets()])
    batch = b.selection.batch if batch is None else batch
    choice = choice or choose_batch(b.sg, batch, cores or b.selection.cores)
    units = batch_units(b.sg, choice.k, choice.even)
    set_aside_unfinished(b.plans)  # outputs without metadata: a unit's job must see them missing
    to_run = {nid for nid, p in b.plans.items() if p.status == Status.RUN}
    with compile_lock(b.workdir):
        version = write_workflow_files(
            b.sg.info, b.sg.nodes(), b.sg.params, units, to_run, b.planned_at
        )
        local_gpus(b.sg, version)
        compiled = Prepared(b.sg, b.plans, b.workdir, version, units, choice)
        if backend is not None:
            backend.prepare(compiled)
    for folder in sorted({os.path.dirname(t) for n in b.sg.nodes() for t in n.targets()}):
        sweep_stale_staging(folder)  # what killed jobs (SIGKILL, OOM) left on this host
    return compiled


def local_gpus(sg: StageGraph, version: str) -> None:
    """The devices local jobs share out (``runtime.gpu_slots``), found now when some stage
    asks for a GPU; a word on stderr when this machine shows none."""
    asked: dict[str, int] = {}
    for node in sg.nodes():
        asked[node.stage] = max(asked.get(node.stage, 0), gpu_slots.declared_gpus(node.resources))
    pool = gpu_slots.record_pool(version, asked)
    if pool is not None and not pool.devices:
        stages = ", ".join(s for s, k in asked.items() if k)
        print(
            f"cfcompile: {stages} ask(s) for GPUs and this machine shows none ({pool.source}): "
            "run here, those nodes fail and say so; on Slurm they get the GPUs they ask for",
            file=sys.stderr,
        )


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
