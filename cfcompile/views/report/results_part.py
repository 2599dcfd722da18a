"""The results part of the report: which compiled version to read them from, the analysis
(what varies, configurations over repetitions, plots), and the sortable table's rows.

Kept apart from the page assembly (``page``) because it reads the results table and turns it
into what the template shows; ``page`` adds the run's files, failures and provenance around it.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from cfcompile.compiler.graph import StageGraph
from cfcompile.core.workdir import VERSIONS, WORKFLOW, WorkflowInfo, current_version
from cfcompile.errors import CfcompileError
from cfcompile.runtime.results_writer import Table, collect
from cfcompile.values import is_number
from cfcompile.views.report.plots import metric_plots, result_columns, split_parameters

MAX_RESULT_ROWS = 5000
"""Results rows the page holds; sorting happens in the browser, so it needs all it shows."""


def results_part(table: Table | None) -> dict[str, Any]:
    """The template's results variables, plus ``counts`` (per status) and ``ran`` (first
    start, last end) for the page's summary and provenance."""
    part: dict[str, Any] = {
        "constant": [],
        "varied": [],
        "repeats": [],
        "metrics": [],
        "plots": [],
        "skipped_plots": [],
        "together": [],
        "plots_missing": None,
        "configs": [],
        "n_configs": 0,
        "result_columns": [],
        "result_rows": [],
        "counts": [],
        "ran": (None, None),
    }
    if table is None:
        return part
    varied, repeats, constant = split_parameters(table)
    plots = metric_plots(table, varied, repeats)
    columns = result_columns(table, varied, repeats)
    configs = plots.get("configs", []) if repeats else []
    starts = [r["start"] for r in table if r.get("start")]
    ends = [r["end"] for r in table if r.get("end")]
    part.update(
        constant=list(constant.items()),
        varied=varied,
        repeats=repeats,
        metrics=plots.get("metrics", []),
        plots=plots.get("plots", []),
        skipped_plots=plots.get("skipped", []),
        together=plots.get("together", []),
        plots_missing=plots.get("missing"),
        configs=_config_rows(configs, plots.get("metrics", []), repeats, MAX_RESULT_ROWS),
        n_configs=len(configs),
        result_columns=columns,
        result_rows=[
            {
                "status": str(row["status"]).split(" (")[0],
                "cells": [_cell(row.get(c["name"]), c["num"]) for c in columns],
            }
            for row in table[:MAX_RESULT_ROWS]
        ],
        counts=_status_counts(table),
        ran=(min(starts) if starts else None, max(ends) if ends else None),
    )
    return part


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


def read_results(sg: StageGraph, version: str | None) -> tuple[Table | None, str | None]:
    """The results rows of this selection from a compiled version, or why there are none.

    Rows of sets the selection does not have are dropped (the version may be another
    selection's); a set of the selection missing from the version is reported by the caller.
    """
    if version is None or not os.path.exists(os.path.join(version, WORKFLOW)):
        return None, (
            "Nothing has been compiled for this workflow folder yet, so there are no results: "
            f"compile it ({sg.info.command()}) and run the workflow."
        )
    try:
        table = collect(version)
    except CfcompileError as exc:
        return None, f"The results could not be read from the compiled version: {exc}"
    keep = [row for row in table if row["hash"] in sg.params]
    return Table(keep, table.kinds), None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _status_counts(table: Table) -> list[tuple[str, int]]:
    counts = Counter(str(row["status"]).split(" (")[0] for row in table)
    order = ("done", "failed", "timed out", "missing")
    return sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)


def _cell(value: Any, numeric: bool) -> dict[str, Any]:
    """What the template needs of a cell: the text shown, and the raw number to sort by."""
    if value is None:
        return {"text": "", "sort": None, "kind": "none"}
    if numeric and is_number(value):
        exact = isinstance(value, int) or _fmt(value) == repr(value)
        return {"text": _fmt(value), "sort": None if exact else f"{value:.12g}", "kind": "num"}
    return {"text": _fmt(value), "sort": None, "kind": "bool" if isinstance(value, bool) else "str"}


def _config_rows(
    configs: list, metrics: list[str], repeats: list[str], limit: int | None
) -> list[dict]:
    """Each configuration: n finished, what happened to its sets (``2 of 3 seeds, 1 failed``),
    and mean +- std per metric over the finished ones (no std for one; empty for none)."""
    shown = configs[:limit] if limit is not None else configs
    out = []
    for c in shown:
        cells = []
        for m in metrics:
            st = c.stats.get(m)
            if st is None:
                cells.append({"text": "", "sort": None, "kind": "none"})
            else:
                cells.append({"text": st.text(), "sort": repr(st.mean), "kind": "num"})
        out.append({"name": c.name, "n": c.finished, "counts": c.counts(repeats),
                    "failed": c.failed, "cells": cells})  # fmt: skip
    return out


# -- the history of reports -------------------------------------------------------------------
