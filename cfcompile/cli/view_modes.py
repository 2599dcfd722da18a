"""The modes that look at what ran: ``--status``, ``--results`` (``--best``, ``--format``)
and ``--report``. Each compiles the selection as ``driver.build`` does (so it covers exactly
these parameter sets) and never starts a job.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime

from cfcompile.backends import all_backends
from cfcompile.cli.parsed import selection
from cfcompile.core.provenance import last_run
from cfcompile.driver.pipeline import build, prepare, slurm_usage
from cfcompile.errors import CfcompileError
from cfcompile.runtime.results_writer import Table, collect, write_selection
from cfcompile.runtime.summary import best_lines, best_rows, rank
from cfcompile.views import attempts, dag
from cfcompile.views.formats import render
from cfcompile.views.report.history import write_report
from cfcompile.views.report.page import build_report
from cfcompile.views.results_table import choose_columns, print_table, sort_rows
from cfcompile.views.status import node_status, print_status
from cfcompile.views.usage_table import print_usage


def cmd_status(args: argparse.Namespace) -> int:
    b = build(selection(args))  # status never rewrites the workflow folder: jobs may be reading it
    jobs: dict = {}
    for backend in all_backends():
        jobs.update(backend.states(b.workdir))
    statuses = node_status(b.sg, b.plans, b.workdir, jobs)
    code = print_status(statuses, b.sg, failed_only=args.failed)
    if not args.failed:
        attempts.print_attempts(statuses, attempts.collect(b.workdir, list(statuses)))
        print_usage(*slurm_usage(b, fresh=False))  # states() above read sacct
        print(last_run_line(b.workdir))
    return code


def last_run_line(workdir: str) -> str:
    """Which command ran this workflow last, when and how it ended (runs.jsonl)."""
    last = last_run(workdir)
    if not last:
        return "\nlast run: none recorded (compiled only, or run with --eager)"
    start = datetime.fromtimestamp(last["start"]).astimezone().isoformat(timespec="seconds")
    if last.get("end"):
        took = f", {last['end'] - last['start']:.1f} s, {last.get('outcome')}"
    else:
        took = ", still running or killed before it ended"
    return f"\nlast run: {last.get('command')} (started {start} on {last.get('host')}{took})"


def cmd_report(args: argparse.Namespace) -> int:
    b = build(selection(args))
    try:
        failed = dag.failed_nodes(b.workdir, b.sg, b.plans)
        svg = dag.render(dag.to_dot(b.sg, b.plans, args.dag_level, failed), "svg").decode()
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
        written = write_report(page, b.project.path("reports_path"), args.experiment)
        path = written["stamped"]
        print(f"cfcompile: latest {written['latest']}, index {written['index']}", file=sys.stderr)
    print(f"cfcompile: wrote {path}", file=sys.stderr)
    print(path)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """Compile (so the table covers exactly these parameter sets), collect, write, print."""
    b = build(selection(args))
    table = collect(prepare(b, args.batch).version)
    paths = write_selection(table, b.sg.info)
    if args.best:
        print_best(table, args)
    else:
        rows = sort_rows(table, args.sort, args.desc)
        if args.format == "table":
            print_table(rows, top=args.top, columns=args.columns)
        else:
            shown = rows[: args.top] if args.top else rows
            sys.stdout.write(render(shown, choose_columns(rows, args.columns), args.format))
    print(f"cfcompile: wrote {', '.join(paths)}", file=sys.stderr)
    return 0


def print_best(table: Table, args: argparse.Namespace) -> None:
    """``--results --best``: configurations by mean ± std of ``--sort`` (or the first metric)."""
    desc = True if args.desc else (False if args.asc else None)
    try:
        ranking = rank(table, table.kinds, args.sort, desc, args.over)
    except ValueError as exc:
        raise CfcompileError(f"--sort {exc}") from None
    if ranking is None:
        print("cfcompile: no numeric metric in the results table: nothing to rank", file=sys.stderr)
        return
    if args.format == "table":
        print("\n".join(best_lines(ranking, args.top or 5)))
        return  # best_lines names the configurations it could not rank
    rows = best_rows(ranking, args.top)
    sys.stdout.write(render(rows, list(rows[0]) if rows else [], args.format))
