"""The modes that compile: the Snakefile on stdout (the default), ``--eager``, ``--dry-run``,
``--dag`` and ``ls``. Each translates its options into a ``driver.Selection`` and prints
what the driver returns.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cfcompile.backends import snakemake
from cfcompile.cli.parsed import selection
from cfcompile.core.workdir import SNAKEFILE
from cfcompile.driver import build, dry_run, prepare, run_eager
from cfcompile.project.discover import EXPERIMENTS, PARAMS, ModuleInfo, Project
from cfcompile.views import dag, networks
from cfcompile.views.dryrun import print_plan
from cfcompile.views.usage_table import print_usage


# -- compile and run -------------------------------------------------------------------------
def cmd_compile(args: argparse.Namespace) -> int:
    b = build(selection(args), warm=True)
    version = prepare(b, backend=snakemake.BACKEND).version
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
    manager = run_eager(selection(args))
    engine = manager.engine
    print(
        f"eager run of '{args.experiment}': {len(engine.ran)} stage(s) ran, "
        f"{len(engine.cached)} cached; cache: {manager.cache_path}",
        file=sys.stderr,
    )
    return 0


# -- views -----------------------------------------------------------------------------------
def cmd_dry_run(args: argparse.Namespace) -> int:
    summary = dry_run(selection(args))
    if args.json:
        # no indent: json's C encoder only serves compact output (20,000 nodes: 0.7 s saved)
        sys.stdout.write(json.dumps(summary, separators=(",", ":")))
        sys.stdout.write("\n")
    else:
        print_plan(summary)
        print_usage(summary.get("slurm_usage") or [], summary.get("slurm_usage_hint"))
    return 0


def cmd_dag(args: argparse.Namespace) -> int:
    b = build(selection(args))
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


def release_stdout() -> None:
    """Point stdout at /dev/null, so that whatever reads it sees the end now.

    The compile prints the Snakefile and is done, but a pipe's reader (Snakemake parsing
    ``/dev/stdin``) only sees the end of the file when the last writer closes it: otherwise
    when this process exits, after the interpreter's teardown of the experiment's imports
    (0.3-0.5 s for scikit-learn, measured here). Also what lets a closed pipe end quietly:
    Python's final flush of a broken stdout would print a second error.
    """
    try:
        sys.stdout.flush()
    except OSError:
        pass
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to release
        pass
    finally:
        os.close(null)
