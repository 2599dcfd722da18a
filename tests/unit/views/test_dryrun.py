"""``--dry-run``'s summary: what would run, and why (``views.dryrun``)."""

from __future__ import annotations

from cfcompile.compiler.plan import plan
from cfcompile.views import dryrun

from .traced_sweep import SETS


def test_the_dry_run_summary_counts_and_explains(traced):
    sg = traced(overwrite=True)
    summary = dryrun.summarize(sg, plan(sg))
    assert summary["totals"]["run"] == 12 and summary["totals"]["cached"] == 0
    assert summary["stages"]["prepare"]["reasons"] == {"overwrite set": [p.name for p in SETS]}
    assert {n["reason"] for n in summary["nodes"]} == {"overwrite set"}
