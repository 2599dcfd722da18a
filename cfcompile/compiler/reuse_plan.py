"""Which nodes to run will copy another set's outputs instead of computing (``--dry-run``).

The same decision the job runtime and the eager engine make (``core.reuse.decide`` and
``cached_class``), from the traced graph: a node to run copies when its class's index already
names finished files written by the current code (an earlier run), or when an earlier node of
its class in trace order runs too (the first of a class computes); a learned node copies when
an earlier run left an entry whose fields it agrees with. A cached node's class counts for its
consumers only when the current code identity wrote it, as at run time. The runtime decides
for itself under the class lock; this says what it will find, so ``--dry-run`` can name the
source and count what is saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import MetadataNames, NodePlan, Reason, Status
from cfcompile.core import learned, reuse, reuse_store
from cfcompile.core.ir import InputKind, Node, NodeId
from cfcompile.stages import StageSpec


@dataclass
class Reuse:
    source: str  # the parameter set whose outputs are copied
    reads: list[str]
    seconds: float | None = None  # what computing it took there, when recorded


@dataclass
class ReusePlan:
    nodes: dict[NodeId, Reuse] = field(default_factory=dict)
    never: dict[str, str] = field(default_factory=dict)  # stage -> why it is never merged
    classes: dict[NodeId, str] = field(default_factory=dict)  # a node to run -> its class

    @property
    def seconds_saved(self) -> float:
        return sum(r.seconds or 0.0 for r in self.nodes.values())


def reuse_plan(sg: StageGraph, plans: dict[NodeId, NodePlan]) -> ReusePlan:
    """The nodes to run that copy instead of computing, with their sources."""
    out = ReusePlan()
    how = reuse.settings(sg.info)
    if not how.reuse:
        return out
    keys: dict[NodeId, str | None] = {}
    first: dict[str, Node] = {}
    cache = sg.info.cache_path
    metadata_of = MetadataNames(sg)
    for node in sg.nodes():  # trace order: producers first
        spec = sg.specs.get(node.func)
        plan = plans[node.id]
        decision = reuse.NONE
        if spec is not None and node.outputs:
            decision = reuse.decide(spec, sg.params.get(node.params_key), _inputs(node, keys), how)
        keys[node.id] = None
        if decision.why:
            out.never.setdefault(node.stage, decision.why)
        if decision.mode is reuse.Mode.NONE:
            continue
        params = sg.params.get(node.params_key)
        if plan.status != Status.RUN:
            path = metadata_of(node)[0]
            meta = reuse_store.read_metadata(path) if path else None
            keys[node.id] = reuse.cached_class(decision, spec, meta, cache, params)
            continue
        forced = node.force or plan.reason == Reason.OVERWRITE
        if decision.mode is reuse.Mode.LEARNED:
            _learned(node, spec, decision, forced, cache, params, keys, out)
            continue
        keys[node.id] = out.classes[node.id] = decision.key
        never = reuse_store.never_reason(cache, decision.key)
        if never:
            out.never.setdefault(node.stage, never)
        if forced:
            first.setdefault(decision.key, node)  # an overwrite computes its own (a source)
            continue
        source = reuse_store.find_entry(cache, decision.key, spec.identity)
        if source is not None:
            seconds = _seconds(cache, source)
            out.nodes[node.id] = Reuse(str(source.get("params_name")), spec.uses, seconds)
        elif decision.key in first and not never:
            out.nodes[node.id] = Reuse(str(first[decision.key].label), spec.uses)
        else:
            first.setdefault(decision.key, node)
    return out


def _inputs(node: Node, keys: dict[NodeId, str | None]) -> dict[str, str | None] | None:
    if any(i.kind != InputKind.ARTIFACT for i in node.inputs):
        return None  # a value run() handed over: never merged
    return {i.name: keys.get(i.node) for i in node.inputs}


def _learned(
    node: Node,
    spec: StageSpec,
    decision: reuse.Decision,
    forced: bool,
    cache: str,
    params: object,
    keys: dict[NodeId, str | None],
    out: ReusePlan,
) -> None:
    """``--reuse``: a node to run copies an earlier node whose read fields it agrees with."""
    found = reuse.find(decision, spec, cache, params)
    if found is None:
        whole = learned.whole_use(cache, decision.key)
        if whole:
            out.never.setdefault(node.stage, whole)
        return
    entry, keys[node.id] = found
    out.classes[node.id] = keys[node.id]
    if not forced:
        out.nodes[node.id] = Reuse(
            str(entry.get("params_name")), entry["fields"], _seconds(cache, entry)
        )


def _seconds(cache: str, source: dict) -> float | None:
    """What computing the source took, from its first output's metadata."""
    try:
        with open(reuse_store.source_files(cache, source)[0][1]) as f:
            return float(json.load(f)["timing"]["seconds"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
