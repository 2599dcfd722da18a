"""Which nodes would run, and why: read from the StageGraph and the cache only.

The answer follows curifactory's rule (a stage runs unless every output is cached and nothing
forces it) plus what a workflow adds: a node reruns when an upstream node reruns, and a partial
output from an interrupted run counts as missing. It never starts Snakemake.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cfcompile.graph import StageGraph
from cfcompile.publish import STAGING_PREFIX

CACHED = "cached"
RUN = "run"

MISSING = "output missing"
OVERWRITE = "overwrite set"
UPSTREAM = "upstream node will rerun"
INCOMPLETE = "incomplete output from an interrupted run"


@dataclass
class NodePlan:
    node: tuple[str, str]
    status: str
    reason: str | None = None


class CacheView:
    """Existence checks against one listing per directory (fast on 10,000s of files)."""

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

    def staged(self, path: str) -> bool:
        """A file of this name sits in a staging folder: a save was interrupted."""
        folder, _, name = path.rpartition(os.sep)
        folder = folder or os.sep
        if folder not in self._staged:
            self._load(folder)
        return name in self._staged[folder]


def plan(sg: StageGraph, view: CacheView | None = None) -> dict[tuple[str, str], NodePlan]:
    view = view or CacheView()
    out: dict[tuple[str, str], NodePlan] = {}
    g = sg.graph
    for node in sg.nodes():
        targets = node.targets()
        present = [view.exists(t) for t in targets]
        if node.force:
            reason = OVERWRITE
        elif any(out[u].status == RUN for u in g.predecessors(node.id)):
            reason = UPSTREAM
        elif all(present):
            out[node.id] = NodePlan(node.id, CACHED)
            continue
        elif any(present) or any(view.staged(t) for t in targets):
            reason = INCOMPLETE
        else:
            reason = MISSING
        out[node.id] = NodePlan(node.id, RUN, reason)
    return out
