"""The report's analysis of the results table: which parameters vary, repetitions grouped into
configurations (mean +- std), and one plot per metric and varied parameter (inline SVG).

Kept apart from the page assembly (report.py) because it is numbers and matplotlib, not HTML.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections import Counter
from typing import Any

from cfcompile.runtime.results import METRIC, PARAM, TIME, Table
from cfcompile.values import all_numbers, is_number

MAX_PLOTS = 24
"""Plots drawn at most (metrics x varied parameters); the rest are named, not drawn."""
MAX_CATEGORIES = 40
"""A non-numeric parameter with more distinct values than this gets no plot (unreadable)."""
RASTER_POINTS = 100
"""Above this many points a plot's markers become one bitmap inside the SVG (page size)."""
REPEAT_FIELD = re.compile(r"(^|[._])(\w*seed|rep|repeat|repetition|trial)$", re.IGNORECASE)
"""Parameters whose sets are repetitions of one configuration (``repeat(..., field="seed")``)."""


def svg_element(svg: str | None) -> str | None:
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
            values = [float(r[metric]) for r in rows if is_number(r.get(metric))]
            if values:
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
                summary["stats"][metric] = (mean, std, len(values))
        out.append(summary)
    return out


def _x_layout(xs_raw: list[Any]) -> tuple | None:
    """Where each point goes along x: (levels, position of each level, numeric, log axis, the
    points' x with configurations sharing a value spread sideways, count per value); None for
    a categorical parameter with too many values to read."""
    numeric = all_numbers(xs_raw)
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
    xs = []
    for x in xs_raw:
        k, count = seen[x], at_level[x]
        seen[x] += 1
        offset = 0.0 if count == 1 else width * (2 * k / (count - 1) - 1)
        xs.append(position[x] * 10**offset if log_x else position[x] + offset)
    return levels, position, numeric, log_x, xs, at_level


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
    layout = _x_layout([p[0] for p in points])
    if layout is None:
        return None
    levels, position, numeric, log_x, xs, at_level = layout
    ys, errs = [p[1] for p in points], [p[2] for p in points]
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
        _mean_line(ax, points, levels, position, shared)
        _label_axes(ax, metric, param, same, levels, position, numeric, log_x)
        if n_reps > 1 or shared:
            ax.legend(fontsize=7, loc="best")
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    return svg_element(buffer.getvalue())


def _mean_line(ax: Any, points: list, levels: list, position: dict, shared: bool) -> None:
    """A line through the mean at each value of the parameter (over the other parameters)."""
    by_level: dict[Any, list[float]] = {}
    for x, mean, *_ in points:
        by_level.setdefault(x, []).append(mean)
    if len(levels) > 1:
        line = [sum(by_level[v]) / len(by_level[v]) for v in levels]
        label = "mean over the other parameters" if shared else None
        ax.plot([position[v] for v in levels], line, "-", color="#d62728", lw=1.5, label=label)


def _label_axes(
    ax: Any,
    metric: str,
    param: str,
    same: list[str],
    levels: list,
    position: dict,
    numeric: bool,
    log_x: bool,
) -> None:
    """Ticks (categories by name), the scale, margins for few levels, labels and title."""
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


def metric_plots(table: Table, varied: list[str], repeats: list[str]) -> dict[str, Any]:
    """Every metric against every varied parameter (up to ``MAX_PLOTS``), and why not more."""
    metrics = [c for c in table.columns(METRIC) if all_numbers([r.get(c) for r in table])]
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


def result_columns(table: Table, varied: list[str], repeats: list[str]) -> list[dict]:
    """The results table's columns: name, status, metrics, varied parameters, stage times."""
    columns = ["name", "status", *table.columns(METRIC), *varied, *repeats, *table.columns(TIME)]
    out = []
    for c in columns:
        kind = table.kinds.get(c, "identity")
        out.append({"name": c, "kind": kind, "num": all_numbers([r.get(c) for r in table])})
    return out
