"""Why a node runs: what changed since its cache was written (``--dry-run``, ``--status``).

A set whose hash changed left metadata under its old hash: the parameter and its old -> new
value are found there. An edited stage is found by the source digest each output's metadata
records. ``plan`` itself never reads metadata (it lists folders); this module reads it only
when a view asks, so planning 50,000 nodes stays a matter of directory listings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import (
    CODE_SAMPLE,
    CacheView,
    MetadataNames,
    NodePlan,
    Reason,
    StageCode,
    Status,
    read_metadata,
)
from cfcompile.core.ir import Node, NodeId
from cfcompile.hashing import string_representations

log = logging.getLogger("cfcompile")


@dataclass
class CodeChange:
    """A stage whose source differs from what some of its cached nodes were written by."""

    stage: str
    func: str
    checked: int  # cached nodes whose metadata was read
    changed: list[NodeId] = field(default_factory=list)
    cached: int = 0  # cached nodes of the stage in all
    sampled: bool = False

    def message(self) -> str:
        seen = f"{len(self.changed)} of {self.checked} cached node(s) checked"
        if self.sampled:
            seen += f", a sample of {self.cached + self.checked - len(self.changed)}"
        return f"code of stage {self.stage} changed since its cache was written ({seen})"


def code_changes(
    sg: StageGraph, plans: dict[NodeId, NodePlan], sample: int | None = CODE_SAMPLE
) -> list[CodeChange]:
    """Stages edited since their cached nodes were written (a spread ``sample`` per stage,
    every cached node when ``sample`` is None); nodes ``plan`` already reran for changed code
    count as changed."""
    code = StageCode(sg, MetadataNames(sg))
    by_func: dict[str, list[Node]] = {}
    rerun: dict[str, list[NodeId]] = {}
    for node in sg.nodes():
        p = plans[node.id]
        if p.status == Status.CACHED:
            by_func.setdefault(node.func, []).append(node)
        elif p.reason == Reason.CODE_CHANGED:
            rerun.setdefault(node.func, []).append(node.id)
    out = []
    for func in dict.fromkeys([*rerun, *by_func]):
        cached = by_func.get(func, [])
        picked = _spread(cached, sample)
        changed = [n.id for n in picked if code.changed(n)]
        changed = rerun.get(func, []) + changed
        if changed:
            stage = changed[0][0]
            sampled = len(picked) < len(cached)
            checked = len(picked) + len(rerun.get(func, []))
            out.append(CodeChange(stage, func, checked, changed, len(cached), sampled))
    return out


def _spread(items: list, sample: int | None) -> list:
    """At most ``sample`` items, evenly spaced, first and last included."""
    if sample is None or len(items) <= sample:
        return items
    if sample <= 1:
        return items[:sample]
    step = (len(items) - 1) / (sample - 1)
    return [items[round(i * step)] for i in range(sample)]


class PreviousSets:
    """Metadata of parameter sets by name, from cache files under hashes the graph no longer has.

    A changed parameter gives its set a new hash, so the old cache files keep the old hash in
    their names. For one stage output, every metadata file in the folder's listing that differs
    from the node's own name only in the hash belongs to a set of that stage; those whose hash
    no current node of the stage has are read once (the newest per set name is kept).
    """

    def __init__(self, sg: StageGraph, view: CacheView, metadata_of: MetadataNames) -> None:
        self._view = view
        self._metadata_of = metadata_of
        self._hashes: dict[str, set[str]] = {}
        for node in sg.nodes():
            self._hashes.setdefault(node.stage, set()).add(node.hash)
        self._index: dict[tuple[str, str, str], dict[str, dict]] = {}

    def find(self, node: Node) -> dict | None:
        meta = next((m for m in self._metadata_of(node) if m is not None), None)
        if meta is None or node.params_name is None:
            return None
        folder, _, name = meta.rpartition(os.sep)
        at = name.find(node.hash)
        if at < 0:
            return None
        key = (folder or os.sep, name[:at], name[at + len(node.hash) :])
        if key not in self._index:
            self._index[key] = self._load(key, self._hashes.get(node.stage, set()))
        return self._index[key].get(node.params_name)

    def _load(self, key: tuple[str, str, str], current: set[str]) -> dict[str, dict]:
        folder, before, after = key
        found: dict[str, dict] = {}
        for entry in self._view.names(folder):
            if not (entry.startswith(before) and entry.endswith(after)):
                continue
            middle = entry[len(before) : len(entry) - len(after)]
            if not middle or middle in current or not _is_hex(middle):
                continue
            data = read_metadata(os.path.join(folder, entry))
            name = data.get("params_name") if data else None
            if not isinstance(name, str) or not isinstance(data.get("params"), dict):
                continue
            older = found.get(name)
            when = str(data.get("artifact_generated", ""))
            if older is None or when > str(older.get("artifact_generated", "")):
                found[name] = data
        return found


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def params_difference(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` for every hashed field that differs (nested sets as ``a.b``)."""
    old_flat, new_flat = _flatten(old), _flatten(new)
    out = []
    for key in dict.fromkeys([*new_flat, *old_flat]):
        if key.split(".")[-1] == "name":
            continue
        a, b = old_flat.get(key, "(absent)"), new_flat.get(key, "(absent)")
        if a != b:
            out.append(f"{key}: {a} -> {b}")
    return out


def _flatten(reps: dict, prefix: str = "") -> dict[str, str]:
    """Hashed fields by dotted name; an unhashed one (None, ignored) shows as its string."""
    out: dict[str, str] = {}
    ignored = reps.get("IGNORED_PARAMS") if isinstance(reps.get("IGNORED_PARAMS"), dict) else {}
    for key, value in reps.items():
        if key == "IGNORED_PARAMS":
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    for key, value in ignored.items():
        if f"{prefix}{key}" not in out and not isinstance(value, dict):
            out[f"{prefix}{key}"] = f"{value} (not hashed)"
    return out


def explain_params(
    sg: StageGraph, plans: dict[NodeId, NodePlan], view: CacheView | None = None
) -> dict[str, str]:
    """Turn "output missing" into "parameters changed" where the set's old cache exists.

    For each parameter set, its first node whose outputs are missing is looked up in the cache
    folder under other hashes (``PreviousSets``); when found, that node's reason becomes
    ``Reason.PARAMS_CHANGED`` and its detail the differing fields. Returns {set name: detail}.
    """
    view = view or CacheView()
    previous = PreviousSets(sg, view, MetadataNames(sg))
    done: dict[str, str] = {}
    for node in sg.nodes():
        p = plans[node.id]
        name = node.params_name
        if p.reason != Reason.MISSING or name is None or name in done or node.params_key is None:
            continue
        old = previous.find(node)
        if old is None:
            continue
        current = sg.params.get(node.params_key)
        if current is None:
            continue
        diff = params_difference(old["params"], string_representations(current))
        changes = "; ".join(diff) or "no field differs (a hash function or preset hash changed?)"
        detail = f"{changes} (hash {str(old.get('params_hash'))[:8]} -> {node.hash[:8]})"
        p.reason, p.detail = Reason.PARAMS_CHANGED, detail
        done[name] = detail
    return done


def explain(
    sg: StageGraph,
    plans: dict[NodeId, NodePlan],
    view: CacheView | None = None,
    sample: int | None = CODE_SAMPLE,
) -> tuple[dict[str, str], list[CodeChange]]:
    """Both explanations, for ``--dry-run``: changed parameter sets, and edited stages."""
    return explain_params(sg, plans, view), code_changes(sg, plans, sample)


def forced_by_code(plans: Iterable[NodePlan]) -> list[NodeId]:
    """Nodes ``plan(rerun_changed_code=True)`` reruns for their code alone."""
    return [p.node for p in plans if p.reason == Reason.CODE_CHANGED]
