"""``--dry-run``: what would run, why, and what it would cost, without starting Snakemake.

"Why" names what changed when the plan's explanation found it (``compiler.explain``): the
parameters of a set whose old cache is still there under its old hash, and stages whose code
differs from what their cached nodes were written by. "output missing" alone leaves a
researcher guessing which edit caused a rerun of thousands of nodes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cfcompile.compiler.explain import CodeChange
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import BatchChoice
from cfcompile.compiler.plan import NodePlan, Status
from cfcompile.compiler.reuse_plan import ReusePlan
from cfcompile.core.ir import Node, NodeId
from cfcompile.views.attempts import checkpointing_stages
from cfcompile.views.critical_path import describe

EXAMPLES = 5
CHANGED_SHOWN = 10
"""Parameter sets whose changes are printed; --json has every one."""


def summarize(
    sg: StageGraph,
    plans: dict[tuple[str, str], NodePlan],
    changed_params: dict[str, str] | None = None,
    code: list[CodeChange] | None = None,
    rerun_changed_code: bool = False,
) -> dict[str, Any]:
    """The plan as data (``--json``): per stage, totals, every node, and what changed."""
    stages: dict[str, dict[str, Any]] = {}
    nodes = []
    totals = Counter()
    core_h = gpu_h = 0.0
    no_runtime = 0
    for node in sg.nodes():
        p = plans[node.id]
        st = stages.setdefault(
            node.stage,
            {"nodes": 0, "cached": 0, "run": 0, "reasons": {}, "core_hours": 0.0, "gpu_hours": 0.0},
        )
        st["nodes"] += 1
        st[p.status] += 1
        totals[p.status] += 1
        who = node.params_name if node.params_name is not None else f"aggregate {node.hash}"
        if p.status == Status.RUN:
            st["reasons"].setdefault(p.reason.text, []).append(who)
            runtime = node.runtime_minutes()
            if runtime is None:
                no_runtime += 1
            else:
                hours = runtime / 60.0
                st["core_hours"] += hours * max(1, int(node.threads))
                st["gpu_hours"] += hours * float(node.resources.get("gpu", 0) or 0)
        nodes.append(_node_row(node, p))
    for st in stages.values():
        core_h += st["core_hours"]
        gpu_h += st["gpu_hours"]
        st["core_hours"] = round(st["core_hours"], 4)
        st["gpu_hours"] = round(st["gpu_hours"], 4)
    return {
        "experiment": sg.info.experiment,
        "stages": stages,
        "totals": {
            "nodes": sum(totals.values()),
            "cached": totals[Status.CACHED],
            "run": totals[Status.RUN],
            "core_hours": round(core_h, 4),
            "gpu_hours": round(gpu_h, 4),
            "nodes_without_declared_runtime": no_runtime,
        },
        "nodes": nodes,
        "changed_params": dict(changed_params or {}),
        "changed_code": [_code_row(c) for c in code or []],
        "rerun_changed_code": rerun_changed_code,
        "checkpointing": checkpointing_stages(list(sg.nodes())),
    }


REUSE_SHOWN = 10
"""Reusing nodes named one per line; --json has every one."""


def add_reuse(summary: dict[str, Any], sg: StageGraph, found: ReusePlan) -> None:
    """Which nodes to run copy another set's outputs (``compiler.reuse_plan``), in the
    summary and on each node's row."""
    rows = {(r["stage"], r["hash"]): r for r in summary["nodes"]}
    for nid, key in found.classes.items():
        rows[nid]["reuse_class"] = key
    lines = []
    for nid, r in found.nodes.items():
        rows[nid]["reuses"] = {"source": r.source, "reads": r.reads}
        node = sg.node(nid)
        lines.append(f"{node.stage} [{node.label}]: reuses {r.source} (reads {', '.join(r.reads)})")
    lines += [f"{stage}: never merged: {why}" for stage, why in found.never.items()]
    summary["reuse"] = {
        "enabled": sg.info.reuse,
        "learned": sg.info.reuse_learned,
        "nodes": len(found.nodes),
        "seconds_saved": round(found.seconds_saved, 3),
        "lines": lines,
    }


def reuse_lines(summary: dict[str, Any]) -> list[str]:
    r = summary.get("reuse") or {}
    if not r.get("lines"):
        return []
    lines = list(r["lines"][:REUSE_SHOWN])
    if len(r["lines"]) > REUSE_SHOWN:
        lines.append(f"... and {len(r['lines']) - REUSE_SHOWN} more (--json has all)")
    if not r["nodes"]:
        return lines
    saved = (
        f", about {r['seconds_saved']:.3g} s of recorded stage time" if r["seconds_saved"] else ""
    )
    lines.append(
        f"{r['nodes']} node(s) to run copy the outputs of an equivalent node instead of "
        f"computing{saved} (--no-reuse computes each)"
    )
    return lines


def _node_row(node: Node, p: NodePlan) -> dict[str, Any]:
    return {
        "stage": node.stage,
        "params": node.params_name,
        "hash": node.hash,
        "status": p.status,
        "reason": p.reason.text if p.reason else None,
        "detail": p.detail,
        "outputs": node.targets(),
    }


def _code_row(c: CodeChange) -> dict[str, Any]:
    return {
        "stage": c.stage,
        "function": c.func,
        "message": c.message(),
        "changed": len(c.changed),
        "checked": c.checked,
        "sampled": c.sampled,
    }


def _why(reasons: dict[str, list[str]]) -> str:
    parts = []
    for reason, who in reasons.items():
        shown = ", ".join(who[:EXAMPLES]) + (
            f", +{len(who) - EXAMPLES} more" if len(who) > EXAMPLES else ""
        )
        parts.append(f"{reason}: {len(who)} ({shown})")
    return "\n".join(parts) or "-"


def print_plan(summary: dict[str, Any], file: Any = None) -> None:
    """The plan as a rich table (plain text when not on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file)
    if not console.is_terminal:  # piped or captured: do not wrap the reasons at 80 columns
        console = Console(file=file, width=160)
    t = summary["totals"]
    table = Table(title=f"dry run: {summary['experiment']}", show_lines=True)
    for col, just in (
        ("stage", "left"),
        ("nodes", "right"),
        ("cached", "right"),
        ("to run", "right"),
        ("why", "left"),
        ("core-h", "right"),
        ("GPU-h", "right"),
    ):
        table.add_column(col, justify=just)
    for name, st in summary["stages"].items():
        table.add_row(
            name,
            str(st["nodes"]),
            str(st["cached"]),
            str(st["run"]),
            _why(st["reasons"]),
            f"{st['core_hours']:.2f}",
            f"{st['gpu_hours']:.2f}",
        )
    table.add_row(
        "total",
        str(t["nodes"]),
        str(t["cached"]),
        str(t["run"]),
        "",
        f"{t['core_hours']:.2f}",
        f"{t['gpu_hours']:.2f}",
        style="bold",
    )
    console.print(table)
    units = summary.get("units")
    if units:
        console.print(
            f"{units['jobs']} job(s) to run: {units['units']} unit(s) of up to "
            f"{units['sets_per_unit']} parameter set(s) each and {units['single_node_jobs']} "
            f"single-node job(s) ({units['why']})"
        )
    if summary.get("critical_path"):
        for line in describe(summary["critical_path"]):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    for line in why_lines(summary) + reuse_lines(summary) + long_lines(summary):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if t["nodes_without_declared_runtime"]:
        console.print(
            f"{t['nodes_without_declared_runtime']} node(s) to run declare neither a runtime "
            '(@stage(resources={"runtime": MINUTES})) nor a timeout and are not in the hour '
            "totals"
        )


def long_lines(summary: dict[str, Any]) -> list[str]:
    """Stages that checkpoint (``cf.checkpoint``): seen in metadata, or waiting to resume."""
    return [
        f"long stage {stage}: {what}"
        for stage, what in (summary.get("checkpointing") or {}).items()
    ]


def why_lines(summary: dict[str, Any]) -> list[str]:
    """What changed, in words: one line per changed parameter set (up to CHANGED_SHOWN) and
    one per edited stage, saying whether its cached nodes rerun."""
    lines = []
    changed = summary.get("changed_params") or {}
    for name, detail in list(changed.items())[:CHANGED_SHOWN]:
        lines.append(
            f"parameter set {name}: parameters changed since its cache was written: {detail}"
        )
    if len(changed) > CHANGED_SHOWN:
        lines.append(f"... and {len(changed) - CHANGED_SHOWN} more changed set(s) (--json has all)")
    for c in summary.get("changed_code") or []:
        if summary.get("rerun_changed_code"):
            then = "these nodes rerun (--rerun-changed-code)"
        else:
            then = (
                "its cached nodes stay cached, as in curifactory; --rerun-changed-code reruns "
                "them (or --overwrite)"
            )
        lines.append(f"{c['message']}: {then}")
    return lines


def units_summary(
    plans: dict[NodeId, NodePlan], units: dict[str, list[Node]], choice: BatchChoice
) -> dict:
    """How the nodes to run become jobs: what --dry-run reports about grouping."""
    to_run = {nid for nid, p in plans.items() if p.status == Status.RUN}
    in_unit = {n.id for members in units.values() for n in members}
    busy = [name for name, members in units.items() if any(n.id in to_run for n in members)]
    alone = [nid for nid in to_run if nid not in in_unit]
    return {
        "jobs": len(busy) + len(alone),
        "units": len(busy),
        "sets_per_unit": choice.k,
        "single_node_jobs": len(alone),
        "why": choice.why,
    }
