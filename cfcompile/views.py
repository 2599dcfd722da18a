"""Pictures of the StageGraph: Graphviz dot, Mermaid, SVG/PNG, full or collapsed per stage.

Labels carry user data (parameter-set names), so every label is escaped for its format; a
parameter name can garble nothing but its own label.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter

from cfcompile.errors import CfcompileError
from cfcompile.graph import StageGraph
from cfcompile.plan import CACHED, NodePlan

FULL_LIMIT = 150
"""Above this many nodes the full graph is unreadable: draw one box per stage instead."""

COLORS = {CACHED: "#b4eeb4", "run": "#ffd59a"}


def dot_quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def mermaid_quote(text: str) -> str:
    """Mermaid labels in double quotes; entity codes keep quotes and brackets inert."""
    out = str(text)
    for ch, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        out = out.replace(ch, code)
    return '"' + out.replace("\n", " ") + '"'


def choose_level(sg: StageGraph, level: str = "auto") -> str:
    if level != "auto":
        return level
    return "full" if sg.graph.number_of_nodes() <= FULL_LIMIT else "stages"


def _node_label(sg: StageGraph, nid: tuple[str, str]) -> str:
    node = sg.node(nid)
    who = node.params_name if node.params_name is not None else f"aggregate {node.hash[:8]}"
    return f"{node.stage}\n{who}"


def _stage_counts(sg: StageGraph, plans: dict[tuple[str, str], NodePlan]) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for node in sg.nodes():
        counts.setdefault(node.stage, Counter())[plans[node.id].status] += 1
    return counts


def _stage_edges(sg: StageGraph) -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for u, v, data in sg.graph.edges(data=True):
        edges.setdefault((u[0], v[0]), set()).update(data["artifacts"])
    return edges


def to_dot(sg: StageGraph, plans: dict, level: str = "auto") -> str:
    level = choose_level(sg, level)
    lines = [
        "digraph cfcompile {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="sans"];',
    ]
    if level == "full":
        ids = {nid: f"n{i}" for i, nid in enumerate(n.id for n in sg.nodes())}
        for nid, key in ids.items():
            color = COLORS[plans[nid].status]
            lines.append(
                f"  {key} [label={dot_quote(_node_label(sg, nid))}, fillcolor={dot_quote(color)}];"
            )
        for u, v, data in sg.graph.edges(data=True):
            for art in data["artifacts"]:
                lines.append(f"  {ids[u]} -> {ids[v]} [label={dot_quote(art)}];")
    else:
        counts = _stage_counts(sg, plans)
        ids = {stage: f"s{i}" for i, stage in enumerate(counts)}
        for stage, c in counts.items():
            total = sum(c.values())
            label = f"{stage}\n{total} node(s): {c[CACHED]} cached, {c['run']} to run"
            color = COLORS["run"] if c["run"] else COLORS[CACHED]
            lines.append(
                f"  {ids[stage]} [label={dot_quote(label)}, fillcolor={dot_quote(color)}];"
            )
        for (a, b), arts in sorted(_stage_edges(sg).items()):
            lines.append(f"  {ids[a]} -> {ids[b]} [label={dot_quote(', '.join(sorted(arts)))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(sg: StageGraph, plans: dict, level: str = "auto") -> str:
    level = choose_level(sg, level)
    lines = ["flowchart LR"]
    if level == "full":
        ids = {nid: f"n{i}" for i, nid in enumerate(n.id for n in sg.nodes())}
        for nid, key in ids.items():
            label = _node_label(sg, nid).replace("\n", " / ")
            lines.append(f"  {key}[{mermaid_quote(label)}]:::{plans[nid].status}")
        for u, v, data in sg.graph.edges(data=True):
            for art in data["artifacts"]:
                lines.append(f"  {ids[u]} -->|{mermaid_quote(art)}| {ids[v]}")
    else:
        counts = _stage_counts(sg, plans)
        ids = {stage: f"s{i}" for i, stage in enumerate(counts)}
        for stage, c in counts.items():
            label = f"{stage} / {sum(c.values())} node(s): {c[CACHED]} cached, {c['run']} to run"
            cls = "run" if c["run"] else CACHED
            lines.append(f"  {ids[stage]}[{mermaid_quote(label)}]:::{cls}")
        for (a, b), arts in sorted(_stage_edges(sg).items()):
            lines.append(f"  {ids[a]} -->|{mermaid_quote(', '.join(sorted(arts)))}| {ids[b]}")
    lines.append(f"  classDef cached fill:{COLORS[CACHED]}")
    lines.append(f"  classDef run fill:{COLORS['run']}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG through Graphviz's ``dot`` (installed by scripts/install-system-deps.sh)."""
    exe = shutil.which("dot")
    if exe is None:
        raise CfcompileError(
            "Graphviz 'dot' is not installed: run scripts/install-system-deps.sh (apt graphviz), "
            "or use --dag dot / --dag mermaid for text"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True)
    if proc.returncode != 0:
        raise CfcompileError(f"dot -T{fmt} failed: {proc.stderr.decode(errors='replace')[:500]}")
    return proc.stdout
