"""Where a cfcompile run's wall time went, read from what the run left on disk.

Nothing is added to the command being measured (it stays the README's pipe, as typed); the
phase boundaries are files the run writes anyway:

- compile: from the command's start to the workflow folder's ``Snakefile`` (written just
  before the compile prints it);
- snakemake start: from there to the first stage's start (``timing.start`` in the outputs'
  metadata): Snakemake parsing, building its DAG and starting the first job;
- jobs: from the first stage's start to the last stage's end, aggregates included;
- after the last stage: to the results table (``results/EXP.jsonl``), which the results job
  writes once every stage is done;
- exit: from the table to the command's end (Snakemake's end-of-run hooks and exit).

All times are this machine's wall clock (``time.time()``), the clock the metadata uses.
"""

from __future__ import annotations

import json
from pathlib import Path

PHASES = ("compile", "snakemake_start", "jobs", "after_last_stage", "exit")
SHORT = {
    "compile": "compile",
    "snakemake_start": "start",
    "jobs": "jobs",
    "after_last_stage": "after",
    "exit": "exit",
}


def node_timings(cache: Path) -> dict[tuple, dict]:
    """Each node's ``timing`` from cfcompile's metadata, keyed by (parameter hash, stage).

    A node with several outputs writes one metadata file per output with the same timing,
    hence the key; reportables' listings are not outputs.
    """
    nodes: dict[tuple, dict] = {}
    for meta in cache.glob("*_metadata.json"):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        timing = data.get("timing")
        if isinstance(timing, dict) and "_reportables" not in meta.name:
            nodes[(data.get("params_hash"), data.get("stage"))] = timing
    return nodes


def stage_span(timings: dict[tuple, dict]) -> tuple[float, float] | None:
    """The first stage's start and the last stage's end among the nodes' timings."""
    starts, ends = [], []
    for timing in timings.values():
        try:
            starts.append(float(timing["start"]))
            ends.append(float(timing["end"]))
        except (KeyError, TypeError, ValueError):
            continue
    return (min(starts), max(ends)) if starts else None


def mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def breakdown(
    root: Path, experiment: str, started: float, wall: float, timings: dict[tuple, dict]
) -> dict | None:
    """Seconds per phase of the cold cfcompile run in ``root`` (``timings``: its
    ``node_timings``); None if a boundary is missing."""
    compiled = mtime(root / ".cfcompile" / experiment / "Snakefile")
    span = stage_span(timings)
    table = mtime(root / "results" / f"{experiment}.jsonl")
    if compiled is None or span is None or table is None:
        return None
    marks = [started, compiled, span[0], span[1], table, started + wall]
    return {
        name: round(max(0.0, after - before), 3)
        for name, before, after in zip(PHASES, marks, marks[1:])
    }


def describe(phases: dict | None) -> str:
    if not phases:
        return "-"
    return " + ".join(f"{SHORT[k]} {phases[k]:.2f}" for k in PHASES)
