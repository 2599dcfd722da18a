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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from cfcompile.compiler.graph import StageGraph
from cfcompile.core.ir import Node, NodeId
from cfcompile.core.outputs import output_cacher
from cfcompile.core.transaction import STAGING_PREFIX

log = logging.getLogger("cfcompile")


class Status(StrEnum):
    """What the plan decides for a node."""

    CACHED = "cached"
    RUN = "run"


class Reason(StrEnum):
    """Why a node runs. The value is its identifier; ``text`` is what people read (``--dry-run``,
    ``--status``, the report, and the ``reason`` of ``--dry-run --json``)."""

    MISSING = "missing"
    OVERWRITE = "overwrite"
    UPSTREAM = "upstream"
    INCOMPLETE = "incomplete"
    PARAMS_CHANGED = "params-changed"
    CODE_CHANGED = "code-changed"

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.MISSING: "output missing",
    Reason.OVERWRITE: "overwrite set",
    Reason.UPSTREAM: "upstream node will rerun",
    Reason.INCOMPLETE: "incomplete output from an interrupted run",
    Reason.PARAMS_CHANGED: "parameters changed since the cache was written",
    Reason.CODE_CHANGED: "stage code changed",
}

CODE_SAMPLE = 16
"""Cached nodes per stage whose metadata ``--dry-run`` reads to notice edited stage code: an
edit changes the source of every node of the stage at once, so a spread sample finds it
without reading 20,000 files. ``--rerun-changed-code`` reads every cached node's metadata."""

SET_ASIDE_SUFFIX = ".incomplete"


@dataclass
class NodePlan:
    node: NodeId
    status: Status
    reason: Reason | None = None
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
        return [output_cacher(spec, None, i).metadata_namer() for i in range(len(spec.outputs))]


def plan(
    sg: StageGraph, view: CacheView | None = None, rerun_changed_code: bool = False
) -> dict[NodeId, NodePlan]:
    """Each node's status and reason, from directory listings alone.

    With ``rerun_changed_code`` a cached node whose stage source differs from the one its
    metadata recorded runs (``Reason.CODE_CHANGED``), and so does everything downstream; that reads
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
        if node.outputs and any(present):  # no outputs: a completion marker, no metadata
            unfinished = tuple(
                o["path"]
                for o, here, meta in zip(node.outputs, present, metadata_of(node), strict=True)
                if here and meta is not None and not view.exists(meta)
            )
        if node.force:
            reason = Reason.OVERWRITE
        elif any(out[u].status == Status.RUN for u in g.predecessors(node.id)):
            reason = Reason.UPSTREAM
        elif all(present) and not unfinished:
            if code is None or not code.changed(node):
                out[node.id] = NodePlan(node.id, Status.CACHED)
                continue
            reason = Reason.CODE_CHANGED
        elif any(present) or any(view.staged(t) for t in targets):
            reason = Reason.INCOMPLETE
        else:
            reason = Reason.MISSING
        out[node.id] = NodePlan(node.id, Status.RUN, reason, unfinished)
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
            self._digests[node.func] = None if spec is None else spec.code
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
