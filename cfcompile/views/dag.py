"""Pictures of the StageGraph: Graphviz dot, Mermaid, SVG/PNG, full or collapsed per stage.

Labels carry user data (parameter-set names), so every label is escaped for its format; a
parameter name can garble nothing but its own label.

Every picture carries a legend (what the colours mean: cached, to run, failed), uses one font
throughout (Graphviz otherwise mixes Times for edge labels with the node font), and SVG scales
to its page instead of a fixed size in points. A full node graph above ``FULL_MAX`` nodes is
refused: Graphviz needs close to a minute for 20,000 nodes and the result is a picture tens of
thousands of pixels long that nobody can read.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import failure_path
from cfcompile.errors import CfcompileError
from cfcompile.views.networks import FAILED, node_state, reduced, stage_graph

FULL_LIMIT = 150
"""Above this many nodes ``auto`` draws one box per stage: the full graph is unreadable."""

FULL_MAX = 500
"""Above this many nodes an explicit ``--dag-level full`` is refused (see the module doc)."""

FONT = "sans-serif"
"""One font for graph, node and edge labels; a generic family every SVG viewer resolves."""

COLORS = {Status.CACHED: "#b4eeb4", Status.RUN: "#ffd59a", FAILED: "#f4a6a6"}
LEGEND = ((Status.CACHED, "cached"), (Status.RUN, "to run"), (FAILED, "failed"))


def dot_quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def mermaid_quote(text: str) -> str:
    """Mermaid labels in double quotes; entity codes keep quotes and brackets inert."""
    out = str(text)
    for ch, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        out = out.replace(ch, code)
    return '"' + out.replace("\n", " ") + '"'


def choose_level(sg: StageGraph, level: str = "auto") -> str:
    """``full`` or ``stages``; an explicit ``full`` above FULL_MAX nodes is refused."""
    count = sg.graph.number_of_nodes()
    if level == "full" and count > FULL_MAX:
        raise CfcompileError(
            f"--dag-level full: {count} nodes are too many to draw (at most {FULL_MAX}; "
            "Graphviz would take minutes for an unreadable picture). Use --dag-level stages "
            "(one box per stage), or choose parameter sets with --names or --indices"
        )
    if level != "auto":
        return level
    return "full" if count <= FULL_LIMIT else "stages"


def failed_nodes(workdir: str, sg: StageGraph, plans: dict[NodeId, NodePlan]) -> set[NodeId]:
    """Nodes still to run that have a failure record (``workdir.load_failure`` would find it).

    One listing of the failures folder, not a file open per node. A cached node's old record
    does not count: the node has succeeded since.
    """
    some = next(iter(plans), None)
    if some is None:
        return set()
    folder = os.path.dirname(failure_path(workdir, some))
    try:
        names = set(os.listdir(folder))
    except OSError:
        return set()
    return {
        nid
        for nid, p in plans.items()
        if p.status == Status.RUN and os.path.basename(failure_path(workdir, nid)) in names
    }


def _node_label(sg: StageGraph, nid: tuple[str, str]) -> str:
    node = sg.node(nid)
    who = node.params_name if node.params_name is not None else f"aggregate {node.hash[:8]}"
    return f"{node.stage}\n{who}"


def elements(sg: StageGraph, plans: dict, level: str = "auto", failed: set | None = None):
    """(boxes, arrows, notes) of the picture, whatever its format.

    boxes: (key, label, state); arrows: (from key, to key, label), one per artifact edge in
    the full graph and one per stage pair (labelled with every artifact) when collapsed. A
    collapsed stage is failed if any node failed, else to run if any runs; its arrows are the
    transitive reduction (an arrow a longer path implies is left out: the order stays plain),
    and each arrow left out is a note in the legend ("a -> c: x").
    """
    failed = failed or set()
    if choose_level(sg, level) == "full":
        ids = {nid: f"n{i}" for i, nid in enumerate(n.id for n in sg.nodes())}
        boxes = [
            (key, _node_label(sg, nid), node_state(plans, failed, nid)) for nid, key in ids.items()
        ]
        arrows = [(ids[u], ids[v], art) for u, v, names in sg.graph.edges() for art in names]
        return boxes, arrows, []
    g = reduced(stage_graph(sg, plans, failed))
    ids = {stage: f"s{i}" for i, stage in enumerate(g.nodes)}
    boxes = []
    for stage, c in g.nodes(data=True):
        label = f"{stage}\n{c['nodes']} node(s): {c['cached']} cached, {c['run']} to run"
        if c["failed"]:
            label += f", {c['failed']} failed"
        state = FAILED if c["failed"] else Status.RUN if c["run"] else Status.CACHED
        boxes.append((ids[stage], label, state))
    arrows = [(ids[a], ids[b], d["artifacts"]) for a, b, d in sorted(g.edges(data=True))]
    notes = [f"{a} -> {b}: {arts}" for a, b, arts in g.graph.get("omitted", [])]
    return boxes, arrows, notes


MAX_NOTES = 6
"""Arrows left out by the reduction that the legend names; the rest are counted."""


def _dot_legend(notes: list[str]) -> list[str]:
    """One HTML-table node: a legend that takes no part in the layout's edges."""
    cells = "".join(f'<TD BGCOLOR="{COLORS[state]}">{text}</TD>' for state, text in LEGEND)
    rows = f"<TR>{cells}</TR>"
    for note in _notes(notes):
        rows += f'<TR><TD COLSPAN="{len(LEGEND)}" BORDER="0">{html.escape(note)}</TD></TR>'
    return [
        "  subgraph cluster_legend {",
        '    label="legend"; style="rounded,dashed"; color="#999999";',
        '    legend [shape=plaintext, style="", margin=0, label=<<TABLE BORDER="0" CELLBORDER="1" '
        f'CELLSPACING="4" CELLPADDING="4">{rows}</TABLE>>];',
        "  }",
    ]


def _notes(notes: list[str]) -> list[str]:
    if not notes:
        return []
    shown = notes[:MAX_NOTES] + (
        [f"... {len(notes) - MAX_NOTES} more"] if len(notes) > MAX_NOTES else []
    )
    return ["also read further down a path (arrows left out):", *shown]


def to_dot(sg: StageGraph, plans: dict, level: str = "auto", failed: set | None = None) -> str:
    boxes, arrows, notes = elements(sg, plans, level, failed)
    font = dot_quote(FONT)
    lines = [
        "digraph cfcompile {",
        f"  graph [rankdir=LR, fontname={font}];",
        f'  node [shape=box, style="rounded,filled", fontname={font}];',
        f"  edge [fontname={font}];",
        *_dot_legend(notes),
    ]
    for key, label, state in boxes:
        lines.append(f"  {key} [label={dot_quote(label)}, fillcolor={dot_quote(COLORS[state])}];")
    for a, b, label in arrows:
        lines.append(f"  {a} -> {b} [label={dot_quote(label)}];")
    return "\n".join([*lines, "}"]) + "\n"


def to_mermaid(sg: StageGraph, plans: dict, level: str = "auto", failed: set | None = None) -> str:
    boxes, arrows, notes = elements(sg, plans, level, failed)
    lines = ["flowchart LR"]
    lines.append('  subgraph legend ["legend"]')
    lines.extend(f'    legend_{state}["{text}"]:::{state}' for state, text in LEGEND)
    lines.extend(f"    legend_note{i}[{mermaid_quote(n)}]" for i, n in enumerate(_notes(notes)))
    lines.append("  end")
    for key, label, state in boxes:
        lines.append(f"  {key}[{mermaid_quote(label.replace(chr(10), ' / '))}]:::{state}")
    for a, b, label in arrows:
        lines.append(f"  {a} -->|{mermaid_quote(label)}| {b}")
    for state, _ in LEGEND:
        lines.append(f"  classDef {state} fill:{COLORS[state]},font-family:{FONT}")
    return "\n".join(lines) + "\n"


_SVG_TAG = re.compile(rb"<svg\b[^>]*>")
_SIZE = re.compile(rb'\s(width|height)="[^"]*"')


def fit_svg(data: bytes) -> bytes:
    """Let the picture fit its page: ``width="100%"`` and no fixed height, viewBox kept.

    Graphviz writes the size in points, so a wide graph overflows a browser window or a report
    and a narrow one never grows; with the viewBox alone the browser scales it to the width.
    """
    tag = _SVG_TAG.search(data)
    if tag is None or b"viewBox" not in tag.group(0):
        return data
    new = _SIZE.sub(b"", tag.group(0)).replace(b"<svg", b'<svg width="100%"', 1)
    return data[: tag.start()] + new + data[tag.end() :]


def render(dot_text: str, fmt: str) -> bytes:
    """SVG or PNG through Graphviz's ``dot`` (installed by scripts/install-system-deps.sh).

    Graphviz's warnings (a missing font, a label it had to truncate, a too-large picture it
    scaled down) go to our stderr: they explain a picture that looks wrong.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise CfcompileError(
            "Graphviz 'dot' is not installed: run scripts/install-system-deps.sh (apt graphviz), "
            "or use --dag dot / --dag mermaid for text"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True)
    if proc.returncode != 0:
        raise CfcompileError(f"dot -T{fmt} failed: {proc.stderr.decode(errors='replace')[:500]}")
    for line in proc.stderr.decode(errors="replace").splitlines():
        if line.strip():
            print(f"cfcompile: dot: {line}", file=sys.stderr)
    return fit_svg(proc.stdout) if fmt == "svg" else proc.stdout
