"""Reuse never changes a value: generated experiments through every route and reuse mode give
what a fresh ``--eager --no-reuse`` copy gives (tests/fuzz/harness.py compares every output).

A short, fixed sample (``derandomize=True``) for CI; ``benchmarks/reuse_fuzz.py`` is the long
run. The examples are drawn first and then checked (no shrinking: each example is a few CLI
calls per route); a failure lists the root differences, each with the part of the value that
differs, and writes the project's spec to a file that
``python benchmarks/reuse_fuzz.py --replay FILE`` runs again (``--route``/``--mode`` to narrow).

- The in-process test draws projects from the structural strategy (``generate.projects``):
  ``--eager`` in each of the three modes, lambdas among the parameter values.
- The compiled test runs one project of ten sub-experiments (one example is what the time
  allows; hypothesis's first example is its simplest, so it takes the second) through the
  README pipe, the pipe with ``CFCOMPILE_WORKER=0`` and the pipe with ``--batch 1``, each in
  the three modes.

Set ``CFCOMPILE_FUZZ_SRC`` to a folder holding a ``cfcompile`` package to test that one.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

from fuzz import generate as G
from fuzz import harness as H

FIXED = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
}


def examples(strategy, n: int) -> list:
    """``n`` examples of ``strategy``, the same on every run (hypothesis, fixed seed). Drawn
    up front and checked by the test itself: a failure is then a plain assertion naming the
    differences and a replay file, not a dump of the whole spec (nor a patch file that
    hypothesis writes into .hypothesis/ for a failing @given test)."""
    drawn: list = []

    @settings(max_examples=n, **FIXED)
    @given(strategy)
    def collect(value):
        drawn.append(value)

    collect()
    return drawn


def check(projects: list[dict], combos: list[tuple[str, str]]) -> None:
    failures = []
    for project in projects:
        with tempfile.TemporaryDirectory(prefix="reuse-fuzz-") as tmp:
            result = H.check_project(project, Path(tmp), combos)
        roots = H.roots(project, result.findings)
        if roots:
            failures.append(report(project, roots))
    assert not failures, "\n\n".join(failures)


def report(project: dict, roots: list[H.Finding]) -> str:
    text = json.dumps(project, indent=1)
    digest = hashlib.md5(text.encode()).hexdigest()[:10]
    path = Path(tempfile.gettempdir()) / f"reuse-fuzz-failure-{digest}.json"
    path.write_text(text)
    subs = H.subs_by_name(project)
    lines = [f"{len(roots)} difference(s) from a fresh --eager --no-reuse run:"]
    for f in roots[:15]:
        category, detail = H.explain(project, f)
        lines.append(f"- [{category}] {f.line()}" + (f" ({detail})" if detail else ""))
    for name in sorted({f.sub for f in roots})[:5]:
        lines.append(G.describe(subs[name]))
    lines.append(f"replay: python benchmarks/reuse_fuzz.py --replay {path}")
    return "\n".join(lines)


COMMAND_TIMEOUT = 90  # seconds; a compiled command of these projects takes under 15


def test_in_process_routes_give_what_a_fresh_computation_gives(monkeypatch):
    monkeypatch.setattr(H, "TIMEOUT", COMMAND_TIMEOUT)
    projects = examples(G.projects(n_subs=8, compiled=False, max_steps=3), 5)
    check(projects, H.all_combos(("eager",)))


def test_compiled_routes_give_what_a_fresh_computation_gives(monkeypatch):
    monkeypatch.setattr(H, "TIMEOUT", COMMAND_TIMEOUT)
    # hypothesis's first example is its simplest (one field, one stage per sub-experiment):
    # the second is the one the time allows to run
    project = examples(G.projects(n_subs=10, compiled=True, max_steps=2), 2)[-1]
    check([project], H.all_combos(H.COMPILED_ROUTES))
