"""Which nodes would run, and why: read from the StageGraph and the cache only.

The answer follows curifactory's rule (a stage runs unless every output is cached and nothing
forces it) plus what a workflow adds: a node reruns when an upstream node reruns, and a partial
output from an interrupted run counts as missing. An output counts only together with its
``..._metadata.json``, which a stage save publishes in the same transaction: a file without it
is half of an interrupted copy or a foreign run. ``plan`` never changes a file and never starts
Snakemake; ``set_aside_unfinished`` is the compile step's one change to the cache.

Why a node runs is more than "output missing" when its cache exists under another name: a set
whose parameters changed has a new hash, so its old files sit beside the new names, and an
edited stage keeps its cache names altogether. ``explain`` finds both from the metadata files
(``explain_params``, ``code_changes``). It reads metadata, which ``plan`` itself never does
unless asked (``rerun_changed_code``): a 20,000-node plan must stay a few directory listings.
"""

from __future__ import annotations

import json
import logging
import os
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cfcompile.execute import stage_code
from cfcompile.graph import StageGraph
from cfcompile.hashing import string_representations
from cfcompile.ir import Node, NodeId
from cfcompile.publish import STAGING_PREFIX

log = logging.getLogger("cfcompile")

CACHED = "cached"
RUN = "run"

MISSING = "output missing"
OVERWRITE = "overwrite set"
UPSTREAM = "upstream node will rerun"
INCOMPLETE = "incomplete output from an interrupted run"
PARAMS_CHANGED = "parameters changed since the cache was written"
CODE_CHANGED = "stage code changed"

CODE_SAMPLE = 16
"""Cached nodes per stage whose metadata ``--dry-run`` reads to notice edited stage code: an
edit changes the source of every node of the stage at once, so a spread sample finds it
without reading 20,000 files. ``--rerun-changed-code`` reads every cached node's metadata."""

SET_ASIDE_SUFFIX = ".incomplete"


@dataclass
class NodePlan:
    node: NodeId
    status: str
    reason: str | None = None
    unfinished: tuple[str, ...] = ()  # outputs present without their metadata
    detail: str | None = None  # what changed, when known (explain): "x: 1 -> 101"


class CacheView:
    """Existence checks against one listing per directory (fast on 10,000s of files).

    A metadata file sits beside its output, so checking it costs a set lookup in the listing
    the output's check already loaded, never a ``stat``.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, set[str]] = {}
        self._staged: dict[str, set[str]] = {}

    def _load(self, folder: str) -> None:
        names: set[str] = set()
        staged: set[str] = set()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    names.add(entry.name)
                    if entry.name.startswith(STAGING_PREFIX) and entry.is_dir():
                        try:  # a sweep may remove it while we look
                            staged.update(os.listdir(entry.path))
                        except OSError:
                            continue
        except OSError:
            pass
        self._dirs[folder] = names
        self._staged[folder] = staged

    def exists(self, path: str) -> bool:
        folder, _, name = path.rpartition(os.sep)  # paths are absolute; cheaper than split
        folder = folder or os.sep
        if folder not in self._dirs:
            self._load(folder)
        return name in self._dirs[folder]

    def names(self, folder: str) -> set[str]:
        """Every entry of ``folder`` (the listing the existence checks use)."""
        if folder not in self._dirs:
            self._load(folder)
        return self._dirs[folder]

    def staged(self, path: str) -> bool:
        """A file of this name sits in a staging folder: a save was interrupted."""
        folder, _, name = path.rpartition(os.sep)
        folder = folder or os.sep
        if folder not in self._staged:
            self._load(folder)
        return name in self._staged[folder]


class MetadataNames:
    """The metadata file of each output, from the output's path and its stage's cacher.

    The stage is resolved and its cachers instantiated once per stage function (not per node):
    a 20,000-node sweep costs a few cacher copies, then one string operation per output.
    """

    def __init__(self, sg: StageGraph) -> None:
        self._specs = sg.specs
        self._namers: dict[str, list[Callable[[str], str] | None] | None] = {}

    def __call__(self, node: Node) -> list[str | None]:
        namers = self._namers.get(node.func, ...)
        if namers is ...:
            namers = self._namers[node.func] = self._load(node)
        if namers is None or len(namers) != len(node.outputs):
            return [None] * len(node.outputs)
        return [
            None if name is None else name(o["path"])
            for name, o in zip(namers, node.outputs, strict=True)
        ]

    def _load(self, node: Node) -> list[Callable[[str], str] | None] | None:
        spec = self._specs.get(node.func)  # the traced specs, by import path
        if spec is None:
            try:  # a graph built without its specs: import the stage as a job would
                spec = pkgutil.resolve_name(node.func).spec
            except (ImportError, AttributeError, ValueError):
                return None  # cannot know the cachers: the outputs' presence decides
        return [spec.output_cacher(None, i).metadata_namer() for i in range(len(spec.outputs))]


def plan(
    sg: StageGraph, view: CacheView | None = None, rerun_changed_code: bool = False
) -> dict[NodeId, NodePlan]:
    """Each node's status and reason, from directory listings alone.

    With ``rerun_changed_code`` a cached node whose stage source differs from the one its
    metadata recorded runs (``CODE_CHANGED``), and so does everything downstream; that reads
    one metadata file per cached node, which is why it is opt-in (and curifactory, whose cache
    names this keeps, ignores code too).
    """
    view = view or CacheView()
    metadata_of = MetadataNames(sg)
    code = StageCode(sg, metadata_of) if rerun_changed_code else None
    out: dict[NodeId, NodePlan] = {}
    g = sg.graph
    for node in sg.nodes():
        targets = node.targets()
        present = [view.exists(t) for t in targets]
        unfinished = ()
        if node.outputs:  # a stage without outputs has a completion marker, no metadata
            unfinished = tuple(
                o["path"]
                for o, here, meta in zip(node.outputs, present, metadata_of(node), strict=True)
                if here and meta is not None and not view.exists(meta)
            )
        if node.force:
            reason = OVERWRITE
        elif any(out[u].status == RUN for u in g.predecessors(node.id)):
            reason = UPSTREAM
        elif all(present) and not unfinished:
            if code is None or not code.changed(node):
                out[node.id] = NodePlan(node.id, CACHED)
                continue
            reason = CODE_CHANGED
        elif any(present) or any(view.staged(t) for t in targets):
            reason = INCOMPLETE
        else:
            reason = MISSING
        out[node.id] = NodePlan(node.id, RUN, reason, unfinished)
    return out


def set_aside_unfinished(plans: dict[NodeId, NodePlan]) -> list[tuple[str, str]]:
    """Rename every output that has no metadata to ``NAME.incomplete``; returns (from, to).

    The compile step calls this so that the run redoes the node: Snakemake decides reruns from
    its output files, and a batch job skips members whose outputs exist, so a truncated file
    left in place would be trusted by both and break every downstream job. Renaming instead of
    deleting keeps whatever the file holds visible beside the output (it may be someone's data);
    an older ``.incomplete`` is never overwritten.
    """
    moved = []
    for p in plans.values():
        for path in p.unfinished:
            target, n = path + SET_ASIDE_SUFFIX, 1
            while os.path.lexists(target):
                target, n = f"{path}{SET_ASIDE_SUFFIX}.{n}", n + 1
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # gone since the plan looked: nothing to set aside
            log.warning(
                "stage %s (hash %s): %s has no metadata (an interrupted run?); set aside as %s, "
                "the stage reruns",
                p.node[0],
                p.node[1],
                path,
                target,
            )
            moved.append((path, target))
    return moved


# -- why: what changed since a cache was written ------------------------------------------------
def read_metadata(path: str) -> dict | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class StageCode:
    """The current source digest of each stage against the one a node's metadata recorded."""

    def __init__(self, sg: StageGraph, metadata_of: MetadataNames) -> None:
        self._sg = sg
        self._metadata_of = metadata_of
        self._digests: dict[str, str | None] = {}

    def current(self, node: Node) -> str | None:
        if node.func not in self._digests:
            spec = self._sg.specs.get(node.func)
            if spec is None:
                try:
                    spec = pkgutil.resolve_name(node.func).spec
                except (ImportError, AttributeError, ValueError):
                    spec = None
            self._digests[node.func] = None if spec is None else stage_code(spec)
        return self._digests[node.func]

    def recorded(self, node: Node) -> str | None:
        """The digest in the first output's metadata; None when there is none (a cache written
        by curifactory or an older cfcompile: nothing to compare, so nothing is claimed)."""
        meta = next((m for m in self._metadata_of(node) if m is not None), None)
        data = read_metadata(meta) if meta else None
        return data.get("stage_code") if data else None

    def changed(self, node: Node) -> bool:
        now = self.current(node)
        then = self.recorded(node) if now is not None else None
        return then is not None and then != now


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
        if p.status == CACHED:
            by_func.setdefault(node.func, []).append(node)
        elif p.reason == CODE_CHANGED:
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
    ``PARAMS_CHANGED`` and its detail the differing fields. Returns {set name: detail}.
    """
    view = view or CacheView()
    previous = PreviousSets(sg, view, MetadataNames(sg))
    done: dict[str, str] = {}
    for node in sg.nodes():
        p = plans[node.id]
        name = node.params_name
        if p.reason != MISSING or name is None or name in done or node.params_key is None:
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
        p.reason, p.detail = PARAMS_CHANGED, detail
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
    return [p.node for p in plans if p.reason == CODE_CHANGED]
