"""``--report``: one self-contained HTML page about a compiled experiment and its results.

Run metadata, the stage DAG (inline SVG), the parameter sets with their hashes, every
reportable that stages registered with ``record.report(...)`` (read back from the cache), and
links to the cache files. Images are inlined as data URIs so the page can be mailed around.
User data is HTML-escaped; a reportable's own HTML is the stage author's, as in curifactory.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import os
import pickle
import re
import tempfile
from importlib import metadata
from typing import Any

from cfcompile.graph import StageGraph
from cfcompile.plan import CACHED, NodePlan

PACKAGES = ("cfcompile", "snakemake", "networkx", "submitit", "numpy", "pandas", "scikit-learn")

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.reportable { border: 1px solid #ddd; padding: 0.5em 1em; margin: 1em 0; }
.cached { background: #e9f9e9; } .run { background: #fff3e0; }
code { font-size: 90%; }
"""

LOADED_PROBE = """
<script>
window.addEventListener("load", () => {
  const imgs = [...document.querySelectorAll("img")];
  document.body.dataset.images = imgs.length;
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const dag = document.querySelector("#dag svg");
  document.body.dataset.dagWidth = dag ? Math.round(dag.getBoundingClientRect().width) : 0;
  document.body.dataset.reportables = document.querySelectorAll(".reportable").length;
});
</script>
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _inline_images(fragment: str, folder: str) -> str:
    def swap(match: re.Match) -> str:
        quote, src = match.group(1), match.group(2)
        path = os.path.join(folder, src)
        if not os.path.isfile(path):
            return match.group(0)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        return f"src={quote}data:{mime};base64,{data}{quote}"

    return re.sub(r"src=(['\"])([^'\"]+)\1", swap, fragment)


def reportable_paths(sg: StageGraph, node_id: tuple[str, str]) -> list[str]:
    node = sg.node(node_id)
    prefix = sg.info.get("prefix") or sg.info.get("experiment")
    listing = os.path.join(
        sg.info["cache_path"], f"{prefix}_{node.hash}_{node.stage}_reportables_file_list.json"
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


def build_report(
    sg: StageGraph, plans: dict[tuple[str, str], NodePlan], dag_svg: str | None
) -> str:
    info = sg.info
    run = info.get("run_info", {})
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>cfcompile report: {_e(info.get('experiment'))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Experiment {_e(info.get('experiment'))}</h1>",
        "<h2>Run</h2><table>",
    ]
    meta = {
        "command": run.get("cli"),
        "git commit": run.get("git_commit"),
        "git dirty": run.get("git_dirty"),
        "host": run.get("hostname"),
        "python": run.get("python"),
        "parameter modules": ", ".join(info.get("param_modules", [])),
        "cache": info.get("cache_path"),
        **{f"version: {k}": v for k, v in _versions().items()},
    }
    parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in meta.items()]
    parts.append("</table><h2>Stage DAG</h2><div id='dag'>")
    parts.append(dag_svg if dag_svg else "<p>(Graphviz 'dot' not installed: no picture)</p>")
    parts.append(
        "</div><h2>Parameter sets</h2><table><tr><th>name</th><th>hash</th><th>parameters</th></tr>"
    )
    from cfcompile.hashing import string_representations

    for key, params in sg.params.items():
        reps = json.dumps(string_representations(params), default=str)
        parts.append(
            f"<tr><td>{_e(params.name)}</td><td><code>{_e(key)}</code></td><td><code>{_e(reps)}</code></td></tr>"
        )
    parts.append("</table><h2>Reportables</h2>")
    with tempfile.TemporaryDirectory(prefix="cfreport") as folder:
        count = 0
        for node in sg.nodes():
            for path in reportable_paths(sg, node.id):
                if not os.path.exists(path):
                    continue
                name, body = _render_reportable(path, folder)
                who = node.params_name or "aggregate"
                parts.append(
                    f"<div class='reportable'><h3>{_e(name)}</h3><p>stage <b>{_e(node.stage)}</b>, "
                    f"{_e(who)}</p>{body}</div>"
                )
                count += 1
        if not count:
            parts.append("<p>No reportables in the cache yet (run the workflow first).</p>")
    parts.append(
        "<h2>Nodes and cache files</h2><table><tr><th>stage</th><th>parameter set</th>"
        "<th>status</th><th>files</th></tr>"
    )
    for node in sg.nodes():
        status = plans[node.id].status
        links = " ".join(
            f"<a href='file://{_e(t)}'>{_e(os.path.basename(t))}</a>" for t in node.targets()
        )
        label = "cached" if status == CACHED else f"to run ({plans[node.id].reason})"
        parts.append(
            f"<tr class='{status}'><td>{_e(node.stage)}</td>"
            f"<td>{_e(node.params_name or 'aggregate')}</td>"
            f"<td>{_e(label)}</td><td>{links}</td></tr>"
        )
    parts.append(f"</table>{LOADED_PROBE}</body></html>")
    return "\n".join(parts)
