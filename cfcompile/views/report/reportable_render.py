"""The report's reportables: what stages registered with ``record.report(...)``, read back from
the cache, rendered, with their images inlined so the page can be mailed around.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile

from cfcompile.compiler.graph import StageGraph
from cfcompile.core.reportable_files import listed_reportables
from cfcompile.notebook_display import inline_images


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
        return listed_reportables(listing, list(json.load(f)))


def _render_reportable(path: str, folder: str) -> tuple[str, str]:
    with open(path, "rb") as f:
        rep = pickle.load(f)
    rep.path = folder
    rep.render()
    body = rep.html()
    if isinstance(body, list):
        body = "\n".join(body)
    return rep.qualified_name or rep.name or os.path.basename(path), inline_images(body, folder)


def rendered_reportables(sg: StageGraph) -> list[dict[str, str]]:
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
