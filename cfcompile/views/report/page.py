"""``--report``: one self-contained HTML page about a compiled experiment and its results.

What a researcher looks at after a sweep, top to bottom: how many sets are done or failed; a
plot of each metric against each parameter the sweep varies (mean +- std over repetitions,
i.e. sets that differ only in a seed-like field); the results table, sortable by clicking a
header; the failed nodes with links to their logs; how the page and the results came about
(the commands, with honest labels, and when the stages ran); the stage DAG; the parameter sets
as a typed table; the reportables stages registered with ``record.report(...)``; every node
with its cache files and log.

The page is a jinja2 template (``report.html.j2``) rendered with autoescape, so names, values,
paths and the experiment name are escaped by default rather than by remembering to call an
escape function at each concatenation. Only SVG we drew ourselves (Graphviz's DAG cut to its
``<svg>`` element, matplotlib's plots) and a reportable's own HTML (the stage author's, as in
curifactory) are marked safe. The plots are inline SVG, so the page needs no other file and
can be mailed around.

Large sweeps stay readable and small: above ``MAX_SETS`` parameter sets or ``MAX_NODES`` nodes
the parameter and node tables show their first ``HEAD_ROWS`` rows and point to ``--results`` /
``--status`` for the rest; the per-stage counts always cover every node; the results table
keeps every row (up to ``MAX_RESULT_ROWS``) inside a scrolling box, without the columns that are
the same in every set; a plot with many points draws them as one embedded bitmap.

``write_report`` keeps a history: ``reports/EXP-<timestamp>.html`` per report, ``EXP.html`` as
the latest, and ``index.html`` listing every stamped report, newest first.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from cfcompile import templates
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.core.ir import Node
from cfcompile.core.provenance import last_run
from cfcompile.core.reuse_store import copy_mark
from cfcompile.core.workdir import (
    WORKFLOW,
    NodeStore,
    WorkflowInfo,
    failure_label,
    failure_path,
    log_path,
)
from cfcompile.runtime.results_writer import flatten_params
from cfcompile.views import attempts
from cfcompile.views.report.plots import (
    svg_element,
)
from cfcompile.views.report.reportable_render import rendered_reportables
from cfcompile.views.report.results_part import pick_version, read_results, results_part

PACKAGES = ("cfcompile", "snakemake", "submitit", "numpy", "pandas", "scikit-learn")

MAX_SETS = 200
"""Above this many parameter sets (or MAX_NODES nodes) the tables are summarised."""
MAX_NODES = 300
HEAD_ROWS = 50
"""Rows a summarised table still shows."""
MAX_FAILURES = 200

TEMPLATE = "report.html.j2"


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


@functools.cache
def _template() -> jinja2.Template:
    """The page template, loaded once; autoescape on for every value it is given."""
    return _env().from_string(templates.text(TEMPLATE))


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _param_table(sg: StageGraph, limit: int | None) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (every flattened parameter, in first-seen order) and the rows shown.

    Values keep their Python type (the template shows numbers, booleans and None as such);
    columns come from the shown rows only, so a summarised table stays narrow too.
    """
    items = list(sg.params.items())
    if limit is not None:
        items = items[:limit]
    rows, columns = [], {}
    for key, params in items:
        values = flatten_params(params)
        values.pop("name", None)
        columns.update(dict.fromkeys(values))
        rows.append({"name": params.name, "key": key, "cells": values})
    return list(columns), rows


def _uri(path: str) -> str:
    return Path(os.path.abspath(path)).as_uri()


def _log_link(workdir: str, node_id: tuple[str, str], units: dict) -> tuple[str, str] | None:
    """(label, file URI) of the log a node's job wrote, or None when there is none (yet)."""
    path = log_path(workdir, node_id, units.get(node_id))
    if not os.path.exists(path):
        return None
    label = "unit log" if node_id in units else "log"
    return label, _uri(path)


def _node_rows(
    sg: StageGraph,
    plans: dict[tuple[str, str], NodePlan],
    limit: int | None,
    units: dict,
) -> list[dict[str, Any]]:
    nodes = sg.nodes()
    if limit is not None:
        nodes = nodes[:limit]
    rows = []
    for node in nodes:
        p = plans[node.id]
        label = "cached" if p.status == Status.CACHED else f"to run ({p.reason.text})"
        source = copied_from(node) if p.status == Status.CACHED else None
        if source is not None:
            label = f"cached (a copy of {source}'s: reuse)"
        rows.append(
            {
                "stage": node.stage,
                "who": node.params_name or "aggregate",
                "status": p.status,
                "label": label,
                "files": [(os.path.basename(t), _uri(t)) for t in node.targets()],
                "log": _log_link(sg.info.workdir, node.id, units),
            }
        )
    return rows


def _failures(sg: StageGraph, units: dict) -> list[dict[str, Any]]:
    """Every node with a failure record (one listing of the folder, not a stat per node)."""
    folder = os.path.dirname(failure_path(sg.info.workdir, ("s", "h")))
    try:
        present = set(os.listdir(folder))
    except OSError:
        return []
    out = []
    for node in sg.nodes():
        path = failure_path(sg.info.workdir, node.id)
        if os.path.basename(path) not in present:
            continue
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        message = str(record.get("message", "")).strip()
        out.append(
            {
                "stage": node.stage,
                "who": node.params_name or "aggregate",
                "kind": failure_label(record),
                "message": message if len(message) < 400 else message[:400] + " ...",
                "log": _log_link(sg.info.workdir, node.id, units),
            }
        )
        if len(out) >= MAX_FAILURES:
            break
    return out


def copied_from(node: Node) -> str | None:
    """The set whose outputs this node's are a copy of (``core.reuse_store.copy_mark``), if any."""
    if not node.outputs:
        return None
    try:
        with open(copy_mark(node.targets()[0])) as f:
            return str(json.load(f).get("from"))
    except (OSError, ValueError, AttributeError):
        return None


def _stage_counts(
    sg: StageGraph, plans: dict[tuple[str, str], NodePlan]
) -> list[tuple[str, int, int, int]]:
    """(stage, nodes, cached, to run) over every node, even when the node table is cut."""
    counts: dict[str, Counter] = {}
    for node in sg.nodes():
        counts.setdefault(node.stage, Counter())[plans[node.id].status] += 1
    return [
        (stage, sum(c.values()), c[Status.CACHED], sum(c.values()) - c[Status.CACHED])
        for stage, c in counts.items()
    ]


# -- results ----------------------------------------------------------------------------------
def _compiled(version: str | None) -> dict[str, Any]:
    """Who compiled the version the results come from, and when (its workflow.json's mtime)."""
    if version is None or not os.path.exists(os.path.join(version, WORKFLOW)):
        return {}
    info = WorkflowInfo.load(version)
    when = datetime.fromtimestamp(os.path.getmtime(os.path.join(version, WORKFLOW)))
    return {
        "digest": os.path.basename(version.rstrip("/")),
        "cli": info.run_info.get("cli"),
        "when": when.astimezone().isoformat(timespec="seconds"),
        "selection": ", ".join(info.param_modules),
    }


def _span(last: dict) -> str | None:
    if not last.get("start"):
        return None
    when = [datetime.fromtimestamp(last[k]).astimezone().isoformat(timespec="seconds")
            for k in ("start", "end") if last.get(k)]  # fmt: skip
    return " and ".join(when) if len(when) == 2 else f"{when[0]} (no end recorded)"


def _provenance(info: Any, version: str | None, now: datetime, ran: tuple) -> dict[str, Any]:
    """How the page and its results came about: the commands (with honest labels), when the
    stages ran, the code and the machine."""
    run = info.run_info
    last = last_run(info.workdir) or {}
    if last.get("version") and version is not None:  # the compile that produced that run
        ran_version = os.path.join(os.path.dirname(version.rstrip("/")), last["version"])
        compiled = _compiled(ran_version) or _compiled(version)
    else:
        compiled = _compiled(version)
    return {
        "report generated": now.isoformat(timespec="seconds"),
        "report made by (command line)": run.get("cli"),
        "last run (command line)": last.get("command"),
        "last run started, ended": _span(last),
        "last run outcome": last.get("outcome") or ("running or killed" if last else None),
        "last run on": last.get("host"),
        "results from compiled version": compiled.get("digest"),
        "compiled with (command line)": compiled.get("cli"),
        "compiled at": compiled.get("when"),
        "stages ran between": f"{ran[0]} and {ran[1]}" if ran[0] else None,
        "git commit": run.get("git_commit"),
        "git dirty": run.get("git_dirty"),
        "host": run.get("hostname"),
        "python": run.get("python"),
        "parameter modules": ", ".join(info.param_modules),
        "cache": info.cache_path,
        "workflow folder": info.workdir,
        "versions": ", ".join(f"{k} {v}" for k, v in _versions().items()),
    }


def build_report(
    sg: StageGraph,
    plans: dict[tuple[str, str], NodePlan],
    dag_svg: str | None,
    version: str | None = None,
    now: datetime | None = None,
) -> str:
    """The report page for a traced experiment, its plan, and the DAG as Graphviz SVG (or None).

    ``version`` is the compiled version folder the results are read from (default: the newest
    one holding this selection, ``pick_version``). Reads results and reportables from the
    cache, so it shows what has run so far; the page needs no other file to display.
    """
    info = sg.info
    now = now or datetime.now().astimezone()
    version = version or pick_version(info.workdir, set(sg.params))
    n_sets, n_nodes = len(sg.params), sg.graph.number_of_nodes()
    summarised = n_sets > MAX_SETS or n_nodes > MAX_NODES
    limit = HEAD_ROWS if summarised else None
    units = NodeStore(version).unit_of() if version and _has_store(version) else {}

    table, no_results = read_results(sg, version)
    part = results_part(table)
    counts = part.pop("counts")
    ran = part.pop("ran")
    missing_sets = n_sets - len(table) if table is not None else 0
    meta = _provenance(info, version, now, ran)
    if missing_sets:
        counts.append(("not in the compiled version", missing_sets))
    summary = f"{n_sets} parameter set(s)"
    if counts:
        summary += ": " + ", ".join(f"{n} {label}" for label, n in counts)
    param_columns, param_rows = _param_table(sg, limit)
    return _template().render(
        experiment=info.experiment,
        summary=summary,
        meta=list(meta.items()),
        dag_svg=svg_element(dag_svg),
        summarised=summarised,
        n_sets=n_sets,
        no_results=no_results,
        missing_sets=missing_sets,
        **part,
        n_results=len(table) if table is not None else 0,
        failures=_failures(sg, units),
        long_stages=_long_stages(sg),
        param_columns=param_columns,
        param_rows=param_rows,
        reportables=rendered_reportables(sg),
        stage_counts=_stage_counts(sg, plans),
        n_nodes=n_nodes,
        node_rows=_node_rows(sg, plans, limit, units),
    )


def _long_stages(sg: StageGraph) -> list:
    """Nodes that checkpointed: their attempts, as --status shows them (``views.attempts``)."""
    labels = {n.id: {"params": n.label} for n in sg.nodes()}
    return attempts.rows(labels, attempts.collect(sg.info.workdir, list(labels)))


def _has_store(version: str) -> bool:
    return os.path.exists(os.path.join(version, "nodes.sqlite"))
