"""The look-before-you-spend commands: --dry-run, --dag, --report (they never start Snakemake)."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _graph_and_plan(args: argparse.Namespace):
    from cfcompile.compile import _trace
    from cfcompile.plan import plan

    project, workdir, sg = _trace(args)
    return project, workdir, sg, plan(sg)


def cmd_dry_run(args: argparse.Namespace) -> int:
    from cfcompile.dryrun import print_plan, summarize

    _, _, sg, plans = _graph_and_plan(args)
    summary = summarize(sg, plans)
    if args.json:
        json.dump(summary, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_plan(summary)
    return 0


def cmd_dag(args: argparse.Namespace) -> int:
    from cfcompile import views

    _, workdir, sg, plans = _graph_and_plan(args)
    fmt = args.dag
    dot = views.to_dot(sg, plans, args.dag_level)
    if fmt == "dot":
        text = dot
    elif fmt == "mermaid":
        text = views.to_mermaid(sg, plans, args.dag_level)
    else:
        data = views.render(dot, fmt)
        path = args.output or os.path.join(workdir, f"dag.{fmt}")
        with open(path, "wb") as f:
            f.write(data)
        level = views.choose_level(sg, args.dag_level)
        print(f"cfcompile: wrote {path} ({level} graph)", file=sys.stderr)
        return 0
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cfcompile import views
    from cfcompile.errors import CfcompileError
    from cfcompile.report import build_report

    project, _, sg, plans = _graph_and_plan(args)
    try:
        svg = views.render(views.to_dot(sg, plans, args.dag_level), "svg").decode()
        svg = svg[svg.find("<svg") :]
    except CfcompileError as exc:
        print(f"cfcompile: warning: {exc}", file=sys.stderr)
        svg = None
    page = build_report(sg, plans, svg)
    path = args.output or str(project.root / "reports" / f"{args.experiment}.html")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(page)
    print(f"cfcompile: wrote {path}", file=sys.stderr)
    print(path)
    return 0
