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

import base64
import functools
import html
import io
import json
import math
import mimetypes
import os
import pickle
import re
import tempfile
from collections import Counter
from datetime import datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jinja2

from cfcompile.errors import CfcompileError
from cfcompile.graph import StageGraph
from cfcompile.plan import CACHED, NodePlan
from cfcompile.results import METRIC, PARAM, TIME, Table, collect, flatten_params
from cfcompile.workdir import (
    VERSIONS,
    WORKFLOW,
    NodeStore,
    WorkflowInfo,
    current_version,
    failure_path,
    log_path,
)

PACKAGES = ("cfcompile", "snakemake", "networkx", "submitit", "numpy", "pandas", "scikit-learn")

MAX_SETS = 200
"""Above this many parameter sets (or MAX_NODES nodes) the tables are summarised."""
MAX_NODES = 300
HEAD_ROWS = 50
"""Rows a summarised table still shows."""
MAX_RESULT_ROWS = 5000
"""Results rows the page holds; sorting happens in the browser, so it needs all it shows."""
MAX_PLOTS = 24
"""Plots drawn at most (metrics x varied parameters); the rest are named, not drawn."""
MAX_CATEGORIES = 40
"""A non-numeric parameter with more distinct values than this gets no plot (unreadable)."""
RASTER_POINTS = 100
"""Above this many points a plot's markers become one bitmap inside the SVG (page size)."""
MAX_FAILURES = 200

REPEAT_FIELD = re.compile(r"(^|[._])(\w*seed|rep|repeat|repetition|trial)$", re.IGNORECASE)
"""Parameters whose sets are repetitions of one configuration (``repeat(..., field="seed")``)."""

TEMPLATE = "report.html.j2"
STAMP = "%Y%m%dT%H%M%S"
STAMPED = re.compile(r"^(?P<experiment>.+)-(?P<stamp>\d{8}T\d{6}(?:-\d+)?)\.html$")


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


@functools.cache
def _template() -> jinja2.Template:
    """The page template, loaded once; autoescape on for every value it is given."""
    text = resources.files("cfcompile.views").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return _env().from_string(text)


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _svg_element(svg: str | None) -> str | None:
    """An ``<svg>`` element alone: the XML prolog, doctype and comments before it go.

    The template inserts this unescaped, so nothing but what Graphviz (or matplotlib) drew may
    pass: text before the first ``<svg`` and after the last ``</svg>`` is dropped, and input
    without an ``<svg`` element gives no picture.
    """
    if not svg:
        return None
    start = svg.find("<svg")
    end = svg.rfind("</svg>")
    if start < 0 or end < start:
        return None
    return svg[start : end + len("</svg>")]


def _inline_images(fragment: str, folder: str) -> str:
    """``src="file"`` of files the reportable rendered into ``folder`` becomes a data URI.

    Only files inside ``folder`` are read: a ``src`` naming any other local path is left as it
    is rather than copied into a page that gets mailed around.
    """
    root = os.path.realpath(folder)

    def swap(match: re.Match) -> str:
        quote, src = match.group(1), match.group(2)
        path = os.path.realpath(os.path.join(root, src))
        if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
            return match.group(0)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        return f"src={quote}data:{mime};base64,{data}{quote}"

    return re.sub(r"src=(['\"])([^'\"]+)\1", swap, fragment)


def reportable_paths(sg: StageGraph, node_id: tuple[str, str]) -> list[str]:
    """The pickled reportables a node's stage registered, per its listing in the cache."""
    node = sg.node(node_id)
    prefix = sg.info.prefix or sg.info.experiment
    listing = os.path.join(
        sg.info.cache_path, f"{prefix}_{node.hash}_{node.stage}_reportables_file_list.json"
    )
    if not os.path.exists(listing):
        return []
    with open(listing) as f:
        return list(json.load(f))


def _render_reportable(path: str, folder: str) -> tuple[str, str]:
    with open(path, "rb") as f:
        rep = pickle.load(f)
    rep.path = folder
    rep.render()
    body = rep.html()
    if isinstance(body, list):
        body = "\n".join(body)
    return rep.qualified_name or rep.name or os.path.basename(path), _inline_images(body, folder)


def _reportables(sg: StageGraph) -> list[dict[str, str]]:
    out = []
    with tempfile.TemporaryDirectory(prefix="cfreport") as folder:
        for node in sg.nodes():
            for path in reportable_paths(sg, node.id):
                if not os.path.exists(path):
                    continue
                name, body = _render_reportable(path, folder)
                who = node.params_name or "aggregate"
                out.append({"name": name, "stage": node.stage, "who": who, "body": body})
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
        rows.append(
            {
                "stage": node.stage,
                "who": node.params_name or "aggregate",
                "status": p.status,
                "label": "cached" if p.status == CACHED else f"to run ({p.reason})",
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
                "kind": "timed out" if record.get("kind") == "timeout" else "failed",
                "message": message if len(message) < 400 else message[:400] + " ...",
                "log": _log_link(sg.info.workdir, node.id, units),
            }
        )
        if len(out) >= MAX_FAILURES:
            break
    return out


def _stage_counts(
    sg: StageGraph, plans: dict[tuple[str, str], NodePlan]
) -> list[tuple[str, int, int, int]]:
    """(stage, nodes, cached, to run) over every node, even when the node table is cut."""
    counts: dict[str, Counter] = {}
    for node in sg.nodes():
        counts.setdefault(node.stage, Counter())[plans[node.id].status] += 1
    return [
        (stage, sum(c.values()), c[CACHED], sum(c.values()) - c[CACHED])
        for stage, c in counts.items()
    ]


# -- results ----------------------------------------------------------------------------------
def pick_version(workdir: str, wanted: set[str]) -> str | None:
    """The compiled version to read this selection's results from, without compiling.

    The current version when it holds every wanted parameter set; else the newest kept
    version that does (``-p A -p B --report`` after ``-p A --results`` still finds A+B's);
    else the current one, and the page says which sets it lacks. The cache is shared, so any
    version that knows a set's nodes reads the same results.
    """
    current = current_version(workdir)
    root = os.path.join(workdir, VERSIONS)
    try:
        others = sorted(
            (e for e in os.scandir(root) if e.is_dir() and e.path != current),
            key=lambda e: e.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        others = []
    for folder in [current, *(e.path for e in others)]:
        if folder is None or not os.path.exists(os.path.join(folder, WORKFLOW)):
            continue
        try:
            known = {key for _, key in WorkflowInfo.load(folder).param_sets}
        except (OSError, ValueError, TypeError):
            continue
        if wanted <= known:
            return folder
    return current


def _results(sg: StageGraph, version: str | None) -> tuple[Table | None, str | None]:
    """The results rows of this selection from a compiled version, or why there are none.

    Rows of sets the selection does not have are dropped (the version may be another
    selection's); a set of the selection missing from the version is reported by the caller.
    """
    if version is None or not os.path.exists(os.path.join(version, WORKFLOW)):
        return None, (
            "Nothing has been compiled for this workflow folder yet, so there are no results: "
            f"compile it (cfcompile {sg.info.experiment} -p ...) and run the workflow."
        )
    try:
        table = collect(version)
    except CfcompileError as exc:
        return None, f"The results could not be read from the compiled version: {exc}"
    keep = [row for row in table if row["hash"] in sg.params]
    return Table(keep, table.kinds), None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(_is_number(v) for v in present)


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


def split_parameters(table: Table) -> tuple[list[str], list[str], dict[str, Any]]:
    """(varied, repetition fields, constant values) among the table's parameter columns.

    A parameter is varied when it takes more than one value. A varied seed-like one
    (``REPEAT_FIELD``) is a repetition field instead: sets differing only there are repeats
    of one configuration, summarised as mean +- std rather than plotted against.
    """
    varied, repeats, constant = [], [], {}
    for column in table.columns(PARAM):
        values = _distinct([row.get(column) for row in table])
        if len(values) <= 1:
            constant[column] = values[0] if values else None
        elif REPEAT_FIELD.search(column):
            repeats.append(column)
        else:
            varied.append(column)
    return varied, repeats, constant


def configurations(table: Table, repeats: list[str], metrics: list[str]) -> list[dict[str, Any]]:
    """Rows grouped by every parameter but the repetition fields, with mean +- std per metric.

    The same grouping as ``cfcompile.sweeps.mean_std`` (which needs the records of an
    aggregate), done on the table's flattened values so it works from the results alone. The
    std is the population std (numpy's default), as there.
    """
    others = [c for c in table.columns(PARAM) if c not in repeats]
    groups: dict[str, list[dict]] = {}
    for row in table:
        key = json.dumps([row.get(c) for c in others], default=str)
        groups.setdefault(key, []).append(row)
    out = []
    for rows in groups.values():
        name = rows[0]["name"]
        for field in repeats:
            suffix = f"_{field.rsplit('.', 1)[-1]}{rows[0].get(field)}"
            name = name.removesuffix(suffix)
        summary: dict[str, Any] = {"name": name, "n": len(rows), "row": rows[0], "stats": {}}
        for metric in metrics:
            values = [float(r[metric]) for r in rows if _is_number(r.get(metric))]
            if values:
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
                summary["stats"][metric] = (mean, std, len(values))
        out.append(summary)
    return out


def _plot_svg(
    configs: list[dict], metric: str, param: str, repeats: list[str], same: list[str]
) -> str | None:
    """One metric against one parameter as an inline SVG; None when there is nothing to draw.

    A point per configuration at its parameter value, with an error bar of +- one std over its
    repetitions; configurations sharing a value are spread a little sideways so their bars do
    not hide each other, and a line joins the mean at each value (over the other varied
    parameters). ``same`` are parameters that change together with ``param``, named in the
    axis label instead of getting identical plots of their own. Drawn with matplotlib's object
    API on an Agg canvas, so it never touches pyplot's global state or the researcher's backend.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [
        (c["row"].get(param), *c["stats"][metric])
        for c in configs
        if metric in c["stats"] and c["row"].get(param) is not None
    ]
    if not points:
        return None
    xs_raw = [p[0] for p in points]
    numeric = _numeric(xs_raw)
    if numeric:
        levels = sorted(_distinct(xs_raw))
        position = {v: float(v) for v in levels}
    else:
        levels = sorted(_distinct(xs_raw), key=str)
        if len(levels) > MAX_CATEGORIES:
            return None
        position = {v: float(i) for i, v in enumerate(levels)}
    log_x = numeric and min(levels) > 0 and max(levels) / min(levels) >= 100
    where = sorted(math.log10(position[v]) if log_x else position[v] for v in levels)
    gaps = [b - a for a, b in zip(where, where[1:])]
    width = 0.25 * (min(gaps) if gaps else 1.0)
    at_level = Counter(xs_raw)
    seen: Counter = Counter()
    xs, ys, errs = [], [], []
    for x, mean, std, _n in points:
        k, count = seen[x], at_level[x]
        seen[x] += 1
        offset = 0.0 if count == 1 else width * (2 * k / (count - 1) - 1)
        xs.append(position[x] * 10**offset if log_x else position[x] + offset)
        ys.append(mean)
        errs.append(std)
    shared = max(at_level.values()) > 1
    n_reps = max(p[3] for p in points)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cfcompile"}):
        fig = Figure(figsize=(4.4, 3.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        many = len(xs) > RASTER_POINTS
        has_bars = any(e > 0 for e in errs)
        if n_reps > 1:
            label = f"mean ± std over {'/'.join(repeats)} (n={n_reps})"
        else:
            label = "configuration" if shared else "value"
        ax.errorbar(
            xs,
            ys,
            yerr=errs if has_bars else None,
            fmt="o",
            markersize=3 if many else 5,
            color="#1f77b4",
            ecolor="#1f77b4",
            elinewidth=0.8,
            alpha=0.5 if many else 0.9,
            rasterized=many,
            label=label,
        )
        by_level: dict[Any, list[float]] = {}
        for x, mean, *_ in points:
            by_level.setdefault(x, []).append(mean)
        if len(levels) > 1:
            line = [sum(by_level[v]) / len(by_level[v]) for v in levels]
            label = "mean over the other parameters" if shared else None
            ax.plot([position[v] for v in levels], line, "-", color="#d62728", lw=1.5, label=label)
        if not numeric:
            ax.set_xticks([position[v] for v in levels])
            ax.set_xticklabels(
                [str(v)[:24] for v in levels],
                rotation=30 if len(levels) > 3 else 0,
                ha="right" if len(levels) > 3 else "center",
            )
        if log_x:
            ax.set_xscale("log")
        if len(levels) < 5:
            ax.margins(x=0.2)
        ax.set_xlabel(param + (f" (= {', '.join(same)})" if same else ""))
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {param}", fontsize=10)
        ax.grid(True, alpha=0.3)
        if n_reps > 1 or shared:
            ax.legend(fontsize=7, loc="best")
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    return _svg_element(buffer.getvalue())


def together(table: Table, varied: list[str]) -> dict[str, list[str]]:
    """Varied parameters grouped by the split of the sets they make: {shown: [same as it]}.

    Two parameters that change together (iris: ``model_type`` and ``n``) would give identical
    plots, so one plot is drawn, against the first, and its axis names the others.
    """
    groups: dict[tuple, list[str]] = {}
    for column in varied:
        codes: dict[str, int] = {}
        split = tuple(
            codes.setdefault(json.dumps(row.get(column), default=str), len(codes)) for row in table
        )
        groups.setdefault(split, []).append(column)
    return {members[0]: members[1:] for members in groups.values()}


def _plots(table: Table, varied: list[str], repeats: list[str]) -> dict[str, Any]:
    """Every metric against every varied parameter (up to ``MAX_PLOTS``), and why not more."""
    metrics = [c for c in table.columns(METRIC) if _numeric([r.get(c) for r in table])]
    configs = configurations(table, repeats, metrics)
    groups = together(table, varied)
    pairs = [(m, p) for m in metrics for p in groups]
    out: dict[str, Any] = {
        "plots": [],
        "skipped": [],
        "configs": configs,
        "metrics": metrics,
        "together": [[p, *same] for p, same in groups.items() if same],
    }
    if not pairs:
        return out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        out["missing"] = "matplotlib is not installed (pip install 'cfcompile[plots]')"
        return out
    for metric, param in pairs:
        if len(out["plots"]) >= MAX_PLOTS:
            out["skipped"].append(f"{metric} vs {param}")
            continue
        svg = _plot_svg(configs, metric, param, repeats, groups[param])
        if svg is None:
            out["skipped"].append(f"{metric} vs {param}")
        else:
            out["plots"].append({"metric": metric, "param": param, "svg": svg})
    return out


def _result_columns(table: Table, varied: list[str], repeats: list[str]) -> list[dict]:
    """The results table's columns: name, status, metrics, varied parameters, stage times."""
    columns = ["name", "status", *table.columns(METRIC), *varied, *repeats, *table.columns(TIME)]
    out = []
    for c in columns:
        kind = table.kinds.get(c, "identity")
        out.append({"name": c, "kind": kind, "num": _numeric([r.get(c) for r in table])})
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _status_counts(table: Table) -> list[tuple[str, int]]:
    counts = Counter(str(row["status"]).split(" (")[0] for row in table)
    order = ("done", "failed", "timed out", "missing")
    return sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)


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
    run = info.run_info
    now = now or datetime.now().astimezone()
    version = version or pick_version(info.workdir, set(sg.params))
    n_sets, n_nodes = len(sg.params), sg.graph.number_of_nodes()
    summarised = n_sets > MAX_SETS or n_nodes > MAX_NODES
    limit = HEAD_ROWS if summarised else None
    units = NodeStore(version).unit_of() if version and _has_store(version) else {}

    table, no_results = _results(sg, version)
    varied, repeats, constant, plots, columns, rows = [], [], {}, {}, [], []
    counts: list[tuple[str, int]] = []
    ran: tuple[str | None, str | None] = (None, None)
    if table is not None:
        varied, repeats, constant = split_parameters(table)
        plots = _plots(table, varied, repeats)
        columns = _result_columns(table, varied, repeats)
        rows = [
            {
                "status": str(row["status"]).split(" (")[0],
                "cells": [_cell(row.get(c["name"]), c["num"]) for c in columns],
            }
            for row in table[:MAX_RESULT_ROWS]
        ]
        counts = _status_counts(table)
        starts = [r["start"] for r in table if r.get("start")]
        ends = [r["end"] for r in table if r.get("end")]
        ran = (min(starts) if starts else None, max(ends) if ends else None)
    missing_sets = n_sets - len(table) if table is not None else 0
    compiled = _compiled(version)
    meta = {
        "report generated": now.isoformat(timespec="seconds"),
        "report made by (command line)": run.get("cli"),
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
    if missing_sets:
        counts.append(("not in the compiled version", missing_sets))
    summary = f"{n_sets} parameter set(s)"
    if counts:
        summary += ": " + ", ".join(f"{n} {label}" for label, n in counts)
    param_columns, param_rows = _param_table(sg, limit)
    configs = plots.get("configs", []) if repeats else []
    return _template().render(
        experiment=info.experiment,
        summary=summary,
        meta=list(meta.items()),
        dag_svg=_svg_element(dag_svg),
        summarised=summarised,
        n_sets=n_sets,
        no_results=no_results,
        missing_sets=missing_sets,
        constant=list(constant.items()),
        varied=varied,
        repeats=repeats,
        metrics=plots.get("metrics", []),
        plots=plots.get("plots", []),
        skipped_plots=plots.get("skipped", []),
        together=plots.get("together", []),
        plots_missing=plots.get("missing"),
        configs=_config_rows(configs, plots.get("metrics", []), MAX_RESULT_ROWS),
        n_configs=len(configs),
        result_columns=columns,
        result_rows=rows,
        n_results=len(table) if table is not None else 0,
        failures=_failures(sg, units),
        param_columns=param_columns,
        param_rows=param_rows,
        reportables=_reportables(sg),
        stage_counts=_stage_counts(sg, plans),
        n_nodes=n_nodes,
        node_rows=_node_rows(sg, plans, limit, units),
    )


def _has_store(version: str) -> bool:
    return os.path.exists(os.path.join(version, "nodes.sqlite"))


def _cell(value: Any, numeric: bool) -> dict[str, Any]:
    """What the template needs of a cell: the text shown, and the raw number to sort by."""
    if value is None:
        return {"text": "", "sort": None, "kind": "none"}
    if numeric and _is_number(value):
        exact = isinstance(value, int) or _fmt(value) == repr(value)
        return {"text": _fmt(value), "sort": None if exact else f"{value:.12g}", "kind": "num"}
    return {"text": _fmt(value), "sort": None, "kind": "bool" if isinstance(value, bool) else "str"}


def _config_rows(configs: list[dict], metrics: list[str], limit: int | None) -> list[dict]:
    shown = configs[:limit] if limit is not None else configs
    out = []
    for c in shown:
        cells = []
        for m in metrics:
            if m in c["stats"]:
                mean, std, _n = c["stats"][m]
                cells.append({"text": f"{mean:.4g} ± {std:.2g}", "sort": repr(mean)})
            else:
                cells.append({"text": "", "sort": None})
        out.append({"name": c["name"], "n": c["n"], "cells": cells})
    return out


# -- the history of reports -------------------------------------------------------------------
INDEX = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>cfcompile reports</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}</style>
</head><body><h1>cfcompile reports</h1>
<p>Newest first. <code>EXPERIMENT.html</code> beside this page is each experiment's latest.</p>
<table id="reports"><tr><th>when</th><th>experiment</th><th>summary</th></tr>
{%- for r in reports %}
<tr><td><a href="{{ r.file }}">{{ r.when }}</a></td><td>{{ r.experiment }}</td>
<td>{{ r.summary }}</td></tr>
{%- else %}
<tr><td colspan="3">no reports yet</td></tr>
{%- endfor %}
</table></body></html>
"""


def write_report(
    page: str, folder: str, experiment: str, now: datetime | None = None
) -> dict[str, str]:
    """Keep the report: ``EXP-<timestamp>.html``, ``EXP.html`` (latest) and ``index.html``.

    Old reports stay, so a sweep's history can be compared; the index is rebuilt from the
    folder each time, so deleting a stamped report removes it from the list. Returns the paths
    as ``{"stamped", "latest", "index"}``.
    """
    from cfcompile.publish import write_atomic

    now = now or datetime.now().astimezone()
    os.makedirs(folder, exist_ok=True)
    stamp = now.strftime(STAMP)
    stamped = os.path.join(folder, f"{experiment}-{stamp}.html")
    n = 2
    while os.path.exists(stamped):  # two reports in one second: keep both
        stamped = os.path.join(folder, f"{experiment}-{stamp}-{n}.html")
        n += 1
    latest = os.path.join(folder, f"{experiment}.html")
    write_atomic(stamped, page)
    write_atomic(latest, page)
    index = os.path.join(folder, "index.html")
    write_atomic(index, render_index(folder))
    return {"stamped": stamped, "latest": latest, "index": index}


def render_index(folder: str) -> str:
    """The index page of every stamped report in ``folder``, newest first."""
    entries = []
    for name in os.listdir(folder):
        match = STAMPED.match(name)
        if not match:
            continue
        stamp = match["stamp"]
        when = datetime.strptime(stamp[:15], STAMP).strftime("%Y-%m-%d %H:%M:%S")
        entries.append(
            {
                "file": name,
                "stamp": stamp,
                "when": when,
                "experiment": match["experiment"],
                "summary": _summary_of(os.path.join(folder, name)),
            }
        )
    entries.sort(key=lambda e: (e["stamp"][:15], int(e["stamp"][16:] or 1)), reverse=True)
    return _env().from_string(INDEX).render(reports=entries)


def _summary_of(path: str) -> str:
    """The one-line summary a report carries in its head (``<meta name=cfcompile-summary>``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return ""
    match = re.search(r'<meta name="cfcompile-summary" content="([^"]*)"', head)
    return html.unescape(match.group(1)) if match else ""
