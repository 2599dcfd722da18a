"""The compile, the dry run and both kinds of run as functions: what the command line's modes
do, for a notebook or a script that holds a ``Selection``.

    from cfcompile.driver import Selection, compile_workflow, dry_run, run, run_eager

    sel = Selection("iris", ("base",), project="workflows/iris")
    dry_run(sel)["totals"]          # what --dry-run --json prints
    snakefile = compile_workflow(sel)
    run(sel, cores=2)               # Snakemake, as --run runs it
    manager = run_eager(sel)        # in this process, as curifactory's experiment command

Each returns data; printing is the command line's (``cli``).
"""

from __future__ import annotations

import os
from typing import Any

from cfcompile.backends import snakemake
from cfcompile.backends.protocol import Launch
from cfcompile.compiler.explain import explain
from cfcompile.compiler.grouping import batch_units, choose_batch
from cfcompile.compiler.plan import CODE_SAMPLE
from cfcompile.compiler.reuse_plan import reuse_plan
from cfcompile.core.provenance import run_info
from cfcompile.core.transaction import sweep_stale_staging
from cfcompile.core.workdir import SNAKEFILE
from cfcompile.driver.pipeline import Built, build, prepare, slurm_usage, suggesting
from cfcompile.driver.selection import ReuseMode, Selection
from cfcompile.project.discover import Project
from cfcompile.record import ArtifactManager
from cfcompile.views import critical_path
from cfcompile.views.dryrun import add_reuse, summarize, units_summary


def compile_workflow(selection: Selection, built: Built | None = None) -> str:
    """Compile the selection; the path of the Snakefile written into its version folder."""
    b = built or build(selection)
    version = prepare(b, backend=snakemake.BACKEND).version
    return os.path.join(version, SNAKEFILE)


def dry_run(selection: Selection) -> dict[str, Any]:
    """What would run and why, the units, the critical path and what reuse saves: the
    summary ``--dry-run --json`` prints. Nothing is written."""
    b = build(selection)
    rerun_code = selection.rerun_changed_code
    # with --rerun-changed-code the plan has read every cached node's metadata already
    changed_params, code = explain(b.sg, b.plans, b.view, sample=0 if rerun_code else CODE_SAMPLE)
    summary = summarize(b.sg, b.plans, changed_params, code, rerun_code)
    add_reuse(summary, b.sg, reuse_plan(b.sg, b.plans))
    choice = choose_batch(b.sg, selection.batch, selection.cores)
    summary["units"] = units_summary(b.plans, batch_units(b.sg, choice.k, choice.even), choice)
    cores = selection.cores or os.cpu_count() or 1
    found = critical_path.estimate(b.sg, b.plans, cores)
    summary["critical_path"] = found.as_dict() if found is not None else None
    rows, hint = slurm_usage(b)
    if rows:
        summary["slurm_usage"] = rows
        summary["slurm_usage_hint"] = hint
    return summary


def run(selection: Selection, cores: int = 1, snakemake_args: tuple[str, ...] = ()) -> int:
    """Compile and run the workflow with Snakemake on this machine (``--run``); Snakemake's
    exit status."""
    b = build(selection, warm=True)
    compiled = prepare(b, backend=snakemake.BACKEND, cores=cores)
    if b.warm:
        b.warm.announce(compiled.version)
    how = Launch(str(b.project.root), None, str(cores), list(snakemake_args))
    return snakemake.BACKEND.launch(compiled, how)


def run_eager(selection: Selection) -> ArtifactManager:
    """``run()`` in this process, like curifactory's ``experiment EXP -p P``; the manager,
    whose records hold every stage's outputs.

    The run is one process with one manager, so it keeps curifactory's run bookkeeping as
    ``experiment`` does (``runs.RunBookkeeping``): numbered in ``store.json`` with its command
    line, its status (``complete``, or ``error`` with the exception, which still propagates)
    written at the end, and every selected set in ``params_registry.json``. A compiled run
    keeps none of it (docs/semantics.md, "Not carried over").
    """
    project = Project.find(selection.project)
    params = list(selection.params) or None
    with suggesting(project, selection):
        module, sets = project.select(
            selection.experiment,
            params,
            list(selection.names) if selection.names else None,
            list(selection.indices) if selection.indices else None,
            for_jobs=False,
        )
    cache = project.cache_path(selection.cache_path)
    if os.path.isdir(cache):
        sweep_stale_staging(cache)
    manager = ArtifactManager(
        experiment_name=selection.experiment,
        cache_path=cache,
        prefix=selection.prefix,
        run_line=selection.command("--eager"),
        status_override=None,  # "incomplete" until run() returns, as curifactory's
        overwrite=selection.overwrite,
        run_info=run_info(str(project.root), selection.experiment),
        folders=True,  # curifactory's experiment command makes them: code may write there
        run_store=True,
        **project.manager_paths(),
    )
    manager.parameter_files = list(selection.params) or [selection.experiment]
    for param_set in sets:
        manager.register(param_set)  # params_registry.json, as curifactory's experiment
    manager.reuse = selection.reuse != ReuseMode.OFF
    manager.reuse_learned = selection.reuse == ReuseMode.LEARNED
    try:
        module.run(sets, manager)
    except BaseException as exc:
        manager.status, manager.error = "error", f"{type(exc).__name__} - {exc}"
        raise
    else:
        manager.status = "complete"
    finally:
        manager.store()  # the status (and error) into the run's store.json entry
    return manager
