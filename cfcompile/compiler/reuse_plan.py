"""Which nodes to run will copy another set's outputs instead of computing (``--dry-run``).

The same classes the job runtime computes (``core.reuse.node_key``), from the traced graph:
a node to run reuses when its class's index already names finished files (an earlier run), or
when an earlier node of the class in trace order runs too (the first of a class computes).
The runtime decides for itself under the class lock; this only says what it will find, so
``--dry-run`` can name the source and count what is saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import NodePlan, Reason, Status
from cfcompile.core import learned, reuse
from cfcompile.core.execute import stage_code
from cfcompile.core.ir import InputKind, Node, NodeId


@dataclass
class Reuse:
    source: str  # the parameter set whose outputs are copied
    reads: list[str]
    seconds: float | None = None  # what computing it took there, when recorded


@dataclass
class ReusePlan:
    nodes: dict[NodeId, Reuse] = field(default_factory=dict)
    never: dict[str, str] = field(default_factory=dict)  # stage -> why it is never merged

    @property
    def seconds_saved(self) -> float:
        return sum(r.seconds or 0.0 for r in self.nodes.values())


def reuse_plan(sg: StageGraph, plans: dict[NodeId, NodePlan]) -> ReusePlan:
    """The nodes to run that copy instead of computing, with their sources."""
    out = ReusePlan()
    if not sg.info.reuse:
        return out
    keys: dict[NodeId, str | None] = {}
    first: dict[str, Node] = {}
    cache = sg.info.cache_path
    for node in sg.nodes():  # trace order: producers first
        key = keys[node.id] = _key(sg, node, keys)
        if key is None and sg.info.reuse_learned:  # keys of learned producers, and reuses
            _learned(sg, node, plans[node.id], keys, out)
            continue
        if key is None or plans[node.id].status != Status.RUN:
            continue
        if node.force or plans[node.id].reason == Reason.OVERWRITE:
            first.setdefault(key, node)  # an overwrite computes its own (and is a source)
            continue
        spec = sg.specs[node.func]
        source = reuse.find_source(cache, key)
        if source is not None:
            seconds = _seconds(cache, source)
            out.nodes[node.id] = Reuse(str(source.get("params_name")), spec.uses, seconds)
        elif key in first:
            out.nodes[node.id] = Reuse(str(first[key].label), spec.uses)
        else:
            first[key] = node
    return out


def _learned(
    sg: StageGraph, node: Node, p: NodePlan, keys: dict[NodeId, str | None], out: ReusePlan
) -> None:
    """``--reuse``: a node to run reuses an earlier node whose read fields it agrees with."""
    spec = sg.specs.get(node.func)
    if spec is None or not node.outputs or any(i.kind != InputKind.ARTIFACT for i in node.inputs):
        return
    base = learned.learned_base(spec, stage_code(spec), [keys.get(i.node) for i in node.inputs])
    if base is None:
        return
    cache = sg.info.cache_path
    found = learned.find(cache, base, sg.params.get(node.params_key), spec.name)
    if found is not None:
        entry, keys[node.id] = found
        if p.status == Status.RUN and not node.force and p.reason != Reason.OVERWRITE:
            out.nodes[node.id] = Reuse(
                str(entry.get("params_name")), entry["fields"], _seconds(cache, entry)
            )
    elif p.status == Status.RUN:
        whole = learned.whole_use(cache, base)
        if whole:
            out.never.setdefault(node.stage, whole)


def _key(sg: StageGraph, node: Node, keys: dict[NodeId, str | None]) -> str | None:
    spec = sg.specs.get(node.func)
    if spec is None or not reuse.reusable(spec) or not node.outputs:
        return None
    if any(i.kind != InputKind.ARTIFACT for i in node.inputs):
        return None
    inputs = [keys.get(i.node) for i in node.inputs]
    return reuse.node_key(spec, stage_code(spec), sg.params.get(node.params_key), inputs)


def _seconds(cache: str, source: dict) -> float | None:
    """What computing the source took, from its first output's metadata."""
    try:
        with open(reuse.source_files(cache, source)[0][1]) as f:
            return float(json.load(f)["timing"]["seconds"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
