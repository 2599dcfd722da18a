"""``--report``: one self-contained HTML page about a compiled experiment and its results.

Run metadata, the stage DAG (inline SVG), the parameter sets as a typed table, every reportable
that stages registered with ``record.report(...)`` (read back from the cache, images inlined as
data URIs so the page can be mailed around), and the nodes with links to their cache files.

The page is a jinja2 template (``report.html.j2``) rendered with autoescape, so names, values,
paths and the experiment name are escaped by default rather than by remembering to call an
escape function at each concatenation. Only the Graphviz SVG and a reportable's own HTML (the
stage author's, as in curifactory) are marked safe.

Large sweeps stay readable and small: above ``MAX_SETS`` parameter sets or ``MAX_NODES`` nodes
the parameter and node tables show their first ``HEAD_ROWS`` rows and point to ``--results`` /
``--status`` for the rest; the per-stage counts always cover every node.
"""

from __future__ import annotations

import base64
import functools
import json
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

from cfcompile.graph import StageGraph
from cfcompile.plan import CACHED, NodePlan
from cfcompile.results import flatten_params

PACKAGES = ("cfcompile", "snakemake", "networkx", "submitit", "numpy", "pandas", "scikit-learn")

MAX_SETS = 200
"""Above this many parameter sets (or MAX_NODES nodes) the tables are summarised."""
MAX_NODES = 300
HEAD_ROWS = 50
"""Rows a summarised table still shows."""

TEMPLATE = "report.html.j2"


@functools.cache
def _template() -> jinja2.Template:
    """The page template, loaded once; autoescape on for every value it is given."""
    text = resources.files("cfcompile.views").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _svg_element(dag_svg: str | None) -> str | None:
    """Graphviz's ``<svg>`` element alone: the XML prolog, doctype and comments before it go.

    The template inserts this unescaped, so nothing but what Graphviz drew may pass: text
    before the first ``<svg`` and after the last ``</svg>`` is dropped, and input without an
    ``<svg`` element gives no picture.
    """
    if not dag_svg:
        return None
    start = dag_svg.find("<svg")
    end = dag_svg.rfind("</svg>")
    if start < 0 or end < start:
        return None
    return dag_svg[start : end + len("</svg>")]


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


def _node_rows(
    sg: StageGraph, plans: dict[tuple[str, str], NodePlan], limit: int | None
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
                "files": [
                    (os.path.basename(t), Path(os.path.abspath(t)).as_uri()) for t in node.targets()
                ],
            }
        )
    return rows


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


def build_report(
    sg: StageGraph, plans: dict[tuple[str, str], NodePlan], dag_svg: str | None
) -> str:
    """The report page for a traced experiment, its plan, and the DAG as Graphviz SVG (or None).

    Reads the reportables from the cache, so it shows what has run so far; the page needs no
    other file to display.
    """
    info = sg.info
    run = info.run_info
    n_sets, n_nodes = len(sg.params), sg.graph.number_of_nodes()
    summarised = n_sets > MAX_SETS or n_nodes > MAX_NODES
    limit = HEAD_ROWS if summarised else None
    meta = {
        "report generated": datetime.now().astimezone().isoformat(timespec="seconds"),
        "compiled with (command line)": run.get("cli"),
        "git commit": run.get("git_commit"),
        "git dirty": run.get("git_dirty"),
        "host": run.get("hostname"),
        "python": run.get("python"),
        "parameter modules": ", ".join(info.param_modules),
        "cache": info.cache_path,
        **{f"version: {k}": v for k, v in _versions().items()},
    }
    param_columns, param_rows = _param_table(sg, limit)
    return _template().render(
        experiment=info.experiment,
        meta=list(meta.items()),
        dag_svg=_svg_element(dag_svg),
        summarised=summarised,
        n_sets=n_sets,
        param_columns=param_columns,
        param_rows=param_rows,
        reportables=_reportables(sg),
        stage_counts=_stage_counts(sg, plans),
        n_nodes=n_nodes,
        node_rows=_node_rows(sg, plans, limit),
    )
