"""The story of long stages: each attempt of a node that checkpoints, and how it ended.

A node that opened a checkpoint (``cf.checkpoint(record)``) keeps its attempts in the
workflow folder (``attempts/STAGE_HASH.json``, written by ``core.checkpoint``): when each
started, how it ended (finished, interrupted near the time limit, preempted, terminated,
killed without a word), when its checkpoint was last written, and the compute lost, i.e. the
work after the last written state, which the next attempt did again. ``--status`` prints
one row per such node and the report shows the same rows.
"""

from __future__ import annotations

import json
import os
import time

from cfcompile.core.checkpoint import FOLDER as CHECKPOINTS
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import attempts_path, load_attempts


def collect(workdir: str, node_ids: list[NodeId]) -> dict[NodeId, dict]:
    """The attempt histories of these nodes (one directory listing, then only the files
    that exist: a sweep of 50,000 nodes without checkpoints costs one ``listdir``)."""
    folder = os.path.dirname(attempts_path(workdir, ("s", "h")))
    try:
        present = set(os.listdir(folder))
    except OSError:
        return {}
    out: dict[NodeId, dict] = {}
    for nid in node_ids:
        if os.path.basename(attempts_path(workdir, nid)) in present:
            history = load_attempts(workdir, nid)
            if history and history.get("attempts"):
                out[nid] = history
    return out


def summary(history: dict) -> dict:
    """Per node: attempts, how each ended, the last save, the compute lost (seconds; None
    where an attempt vanished and its end is unknown)."""
    attempts = history.get("attempts") or []
    lost = [a.get("lost_s") for a in attempts if a.get("ended") not in (None, "finished")]
    known = [x for x in lost if x is not None]
    saved = [a.get("saved_at") for a in attempts if a.get("saved_at")]
    return {
        "attempts": len(attempts),
        "ended": [a.get("ended") or "running (or killed; not known yet)" for a in attempts],
        "last_save": max(saved) if saved else None,
        "lost_s": round(sum(known), 1),
        "lost_unknown": len(lost) - len(known),
        "jobs": [a.get("job") for a in attempts],
    }


def rows(statuses: dict, histories: dict[NodeId, dict]) -> list[tuple[list[str], list[str]]]:
    """``--status`` rows: stage, set, attempts, last save, lost; then one line per attempt."""
    out = []
    for nid, history in histories.items():
        s = summary(history)
        entry = statuses.get(nid, {})
        when = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["last_save"]))
                if s["last_save"] else "never")  # fmt: skip
        lost = f"{s['lost_s']:g} s lost" + (
            f" (+{s['lost_unknown']} attempt(s) killed, loss unknown)" if s["lost_unknown"] else ""
        )
        cells = [nid[0], entry.get("params", nid[1][:8]), f"{s['attempts']} attempt(s)",
                 f"last checkpoint {when}", lost]  # fmt: skip
        details = []
        for i, attempt in enumerate(history["attempts"], 1):
            job = f" (job {attempt['job']})" if attempt.get("job") else ""
            loss = attempt.get("lost_s")
            tail = f", {loss:g} s lost" if loss else ""
            details.append(f"attempt {i}{job}: {attempt.get('ended') or 'running'}{tail}")
        out.append((cells, details))
    return out


def print_attempts(statuses: dict, histories: dict[NodeId, dict]) -> None:
    """The ``--status`` section: one row per checkpointing node, a line per attempt."""
    table = rows(statuses, histories)
    if not table:
        return
    print(f"\nlong stages: {len(table)} node(s) checkpointed (stage, set, attempts, last "
          "checkpoint, compute lost to interruptions)")  # fmt: skip
    widths = [max(len(cells[i]) for cells, _ in table) for i in range(len(table[0][0]) - 1)]
    for cells, details in table:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
              + "  " + cells[-1])  # fmt: skip
        for line in details:
            print(f"      {line}")


SAMPLED = 20
"""Nodes of a stage whose metadata ``--dry-run`` reads to tell whether the stage checkpoints."""


def checkpointing_stages(nodes: list) -> dict[str, str]:
    """For ``--dry-run``: stages seen to checkpoint in earlier runs (their outputs' metadata
    has ``timing.checkpoint``), and nodes with a checkpoint waiting in the cache (they
    resume). ``nodes``: the graph's nodes (``core.ir.Node``)."""
    seen: dict[str, bool] = {}
    sampled: dict[str, int] = {}
    waiting: dict[str, int] = {}
    listed: dict[str, set[str]] = {}
    for node in nodes:
        if not node.outputs:
            continue
        target = node.targets()[0]
        cache = os.path.dirname(target)
        if cache not in listed:
            try:
                listed[cache] = set(os.listdir(os.path.join(cache, CHECKPOINTS)))
            except OSError:
                listed[cache] = set()
        if f"{node.stage}_{node.hash}" in listed[cache]:
            waiting[node.stage] = waiting.get(node.stage, 0) + 1
        if seen.get(node.stage) or sampled.get(node.stage, 0) >= SAMPLED:
            continue
        sampled[node.stage] = sampled.get(node.stage, 0) + 1
        seen[node.stage] = _metadata_says(target)
    out = {}
    for stage in dict.fromkeys([*seen, *waiting]):
        parts = ["seen to checkpoint in earlier runs (metadata)"] if seen.get(stage) else []
        if waiting.get(stage):
            parts.append(f"{waiting[stage]} node(s) resume from a checkpoint")
        if parts:
            out[stage] = "; ".join(parts)
    return out


def _metadata_says(target: str) -> bool:
    path = os.path.splitext(target)[0] + "_metadata.json"
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool((data.get("timing") or {}).get("checkpoint"))
