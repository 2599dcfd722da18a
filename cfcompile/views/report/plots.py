"""The report's analysis of the results table: which parameters vary, repetitions grouped into
configurations (mean +- std), and one plot per metric and varied parameter (inline SVG).

Kept apart from the page assembly (``page``) because it is numbers and matplotlib, not HTML.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from typing import Any

from cfcompile.runtime import summary
from cfcompile.runtime.results_writer import METRIC, PARAM, TIME, Table
from cfcompile.values import all_numbers

MAX_PLOTS = 24
"""Plots drawn at most (metrics x varied parameters); the rest are named, not drawn."""
MAX_CATEGORIES = 40
"""A non-numeric parameter with more distinct values than this gets no plot (unreadable)."""
RASTER_POINTS = 100
"""Above this many points a plot's markers become one bitmap inside the SVG (page size)."""
MAX_SERIES = 8
"""Series per plot at most (one per combination of the other varied parameters); more are
drawn as one cloud of points with the mean line instead."""


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


def split_parameters(
    table: Table, over: list[str] | None = None
) -> tuple[list[str], list[str], dict[str, Any]]:
    """(varied, repetition fields, constant values) among the table's parameters
    (``runtime.summary.split_parameters``: the terminal and the report agree)."""
    return summary.split_parameters(table, table.columns(PARAM), over)


def configurations(table: Table, repeats: list[str], metrics: list[str]) -> list[summary.Config]:
    """The table's configurations with mean +- std over the finished sets of each."""
    return summary.configurations(table, table.columns(PARAM), repeats, metrics)


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


class Axis:
    """Where a parameter's values go along x, chosen from the values: categories (strings,
    booleans: False/True are two categories, not a line), integers (whole ticks), a linear
    or a log scale (log-spaced positive values: each at least 3x the one before, or spanning
    100x or more; with 0 among them, symlog)."""

    def __init__(self, values: list[Any]):
        self.levels = _distinct(values)
        self.numeric = all_numbers(self.levels)
        self.scale = "linear"
        self.integer = False
        if self.numeric:
            self.levels.sort()
            self.position = {v: float(v) for v in self.levels}
            self.integer = all(isinstance(v, int) for v in self.levels)
            positive = [v for v in self.levels if v > 0]
            steps = [b / a for a, b in zip(positive, positive[1:], strict=False)]
            # log-spaced: each value at least 3x the one before (0.001, 0.01, 0.1; 0, 0.1,
            # 1), or positive values spanning 100x or more
            spread = len(positive) >= 2 and (
                max(positive) / min(positive) >= 100 or min(steps) >= 3
            )
            if spread and min(self.levels) > 0:
                self.scale = "log"
            elif spread and min(self.levels) == 0:
                self.scale = "symlog"
                self.linthresh = min(positive)
        else:
            self.levels.sort(key=str)
            self.position = {v: float(i) for i, v in enumerate(self.levels)}
        self.readable = self.numeric or len(self.levels) <= MAX_CATEGORIES

    def _where(self, v: Any) -> float:
        x = self.position[v]
        if self.scale == "log":
            return math.log10(x)
        if self.scale == "symlog":
            return math.log10(x / self.linthresh) + 1 if x > 0 else 0.0
        return x

    def spread(self, v: Any, k: int, count: int) -> float:
        """Value ``v`` moved a little sideways, the k-th of ``count`` points sharing it."""
        if count <= 1:
            return self.position[v]
        where = sorted(self._where(x) for x in self.levels)
        gaps = [b - a for a, b in zip(where, where[1:], strict=False)]
        offset = 0.25 * (min(gaps) if gaps else 1.0) * (2 * k / (count - 1) - 1)
        x = self.position[v]
        if self.scale in ("log", "symlog") and x > 0:
            return x * 10**offset
        if self.scale == "symlog":  # 0 sits in the linear part, linthresh wide
            return x + offset * self.linthresh
        return x + offset

    def apply(self, ax: Any) -> None:
        if not self.numeric:
            ax.set_xticks([self.position[v] for v in self.levels])
            ax.set_xticklabels(
                [str(v)[:24] for v in self.levels],
                rotation=30 if len(self.levels) > 3 else 0,
                ha="right" if len(self.levels) > 3 else "center",
            )
        elif self.scale == "log":
            ax.set_xscale("log")
        elif self.scale == "symlog":
            ax.set_xscale("symlog", linthresh=self.linthresh)
            ax.set_xticks(self.levels)
            ax.set_xticklabels([f"{v:g}" for v in self.levels])
        elif self.integer:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(self.levels) < 5:
            ax.margins(x=0.2)


def _series(configs: list, metric: str, param: str, others: list[str]) -> dict[str, list]:
    """Points (value, Stat) per combination of the other varied parameters' values."""
    out: dict[str, list] = {}
    for c in configs:
        x = c.row.get(param)
        if metric not in c.stats or x is None:
            continue
        label = ", ".join(f"{o}={c.row.get(o)}" for o in others)
        out.setdefault(label, []).append((x, c.stats[metric]))
    return out


# long: one figure, drawn in order (series, axes, legend, SVG); split, the state it shares
# (figure, axis, layout) would be passed around
def _plot_svg(
    configs: list, metric: str, param: str, repeats: list[str], same: list[str], others: list[str]
) -> str | None:
    """One metric against one parameter as an inline SVG; None when there is nothing to draw.

    A point per configuration at its parameter value with an error bar of +- one std over its
    finished repetitions (none for a single one). With other varied parameters, one labelled
    series per combination of their values (up to MAX_SERIES; more become one cloud with the
    mean at each value). ``same`` are parameters that change together with ``param``, named in
    the axis label. Drawn with matplotlib's object API on an Agg canvas, so it never touches
    pyplot's global state or the researcher's backend.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = _series(configs, metric, param, others)
    if not series:
        return None
    axis = Axis([x for points in series.values() for x, _ in points])
    if not axis.readable:
        return None
    cloud = len(series) > MAX_SERIES
    if cloud:
        series = {"configuration": [p for points in series.values() for p in points]}
    n_reps = max(st.n for points in series.values() for _, st in points)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cfcompile"}):
        fig = Figure(figsize=(4.6, 3.1), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        many = sum(len(p) for p in series.values()) > RASTER_POINTS
        for k, (label, points) in enumerate(sorted(series.items())):
            points = sorted(points, key=lambda p: axis.levels.index(p[0]))
            if cloud:
                seen: Counter = Counter()
                at = Counter(x for x, _ in points)
                xs = []
                for x, _ in points:
                    xs.append(axis.spread(x, seen[x], at[x]))
                    seen[x] += 1
            else:
                xs = [axis.spread(x, k, len(series)) for x, _ in points]
            ys = [st.mean for _, st in points]
            errs = [st.std or 0.0 for _, st in points]
            ax.errorbar(xs, ys, yerr=errs if any(errs) else None,
                        fmt="-o" if axis.numeric and not cloud else "o",  # no line between
                        markersize=3 if many else 4.5,  # categories
                        elinewidth=0.8, capsize=0 if many else 2, alpha=0.5 if many else 0.9,
                        rasterized=many, label=label or None)  # fmt: skip
        if cloud:
            _mean_line(ax, series["configuration"], axis)
        axis.apply(ax)
        ax.set_xlabel(param + (f" (= {', '.join(same)})" if same else ""))
        ax.set_ylabel(metric)
        what = f"mean ± std over {'/'.join(repeats)} (n ≤ {n_reps})" if n_reps > 1 else "value"
        ax.set_title(f"{metric} vs {param}: {what}", fontsize=9)
        ax.grid(True, alpha=0.3)
        if len(series) > 1 or cloud:
            ax.legend(fontsize=7, loc="best")
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    return svg_element(buffer.getvalue())


def _mean_line(ax: Any, points: list, axis: Axis) -> None:
    """A line through the mean at each value of the parameter (over the other parameters)."""
    by_level: dict[Any, list[float]] = {}
    for x, st in points:
        by_level.setdefault(x, []).append(st.mean)
    if len(axis.levels) > 1:
        line = [sum(by_level[v]) / len(by_level[v]) for v in axis.levels if v in by_level]
        xs = [axis.position[v] for v in axis.levels if v in by_level]
        ax.plot(xs, line, "-", color="#d62728", lw=1.5, label="mean over the other parameters")


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
    metrics = summary.numeric_metrics(table, table.columns(METRIC))
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
        others = [o for o in groups if o != param]
        svg = _plot_svg(configs, metric, param, repeats, groups[param], others)
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
