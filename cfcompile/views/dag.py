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


def elements(sg: StageGraph, plans: dict, level: str = "auto"):
    """(boxes, arrows) of the picture, whatever its format.

    boxes: (key, label, css class); arrows: (from key, to key, label), one per artifact edge in
    the full graph and one per stage pair (labelled with every artifact) when collapsed.
    """
    if choose_level(sg, level) == "full":
        ids = {nid: f"n{i}" for i, nid in enumerate(n.id for n in sg.nodes())}
        boxes = [(key, _node_label(sg, nid), plans[nid].status) for nid, key in ids.items()]
        arrows = [
            (ids[u], ids[v], art)
            for u, v, data in sg.graph.edges(data=True)
            for art in data["artifacts"]
        ]
        return boxes, arrows
    counts = _stage_counts(sg, plans)
    ids = {stage: f"s{i}" for i, stage in enumerate(counts)}
    boxes = [
        (
            ids[stage],
            f"{stage}\n{sum(c.values())} node(s): {c[CACHED]} cached, {c['run']} to run",
            "run" if c["run"] else CACHED,
        )
        for stage, c in counts.items()
    ]
    arrows = [
        (ids[a], ids[b], ", ".join(sorted(arts)))
        for (a, b), arts in sorted(_stage_edges(sg).items())
    ]
    return boxes, arrows


def to_dot(sg: StageGraph, plans: dict, level: str = "auto") -> str:
    boxes, arrows = elements(sg, plans, level)
    lines = [
        "digraph cfcompile {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="sans"];',
    ]
    for key, label, cls in boxes:
        lines.append(f"  {key} [label={dot_quote(label)}, fillcolor={dot_quote(COLORS[cls])}];")
    for a, b, label in arrows:
        lines.append(f"  {a} -> {b} [label={dot_quote(label)}];")
    return "\n".join([*lines, "}"]) + "\n"


def to_mermaid(sg: StageGraph, plans: dict, level: str = "auto") -> str:
    boxes, arrows = elements(sg, plans, level)
    lines = ["flowchart LR"]
    for key, label, cls in boxes:
        lines.append(f"  {key}[{mermaid_quote(label.replace(chr(10), ' / '))}]:::{cls}")
    for a, b, label in arrows:
        lines.append(f"  {a} -->|{mermaid_quote(label)}| {b}")
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
