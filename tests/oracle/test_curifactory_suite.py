"""curifactory's own unit tests, run against cfcompile (tests/curifactory_suite/NOTICE.md).

The vendored tree runs twice in a temporary copy: with curifactory 0.20.5 (the baseline) and
with ``import curifactory`` resolving to cfcompile alone (``-p cfcompat_strict``: only
``cfcompile.compat.install()``, no stubs). Every test the baseline passes must pass on
cfcompile unless ``out_of_scope.txt`` lists it with its reason; a listed test that passes is
an error too (take it off the list), so the list can only shrink as cfcompile catches up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.oracle

SUITE = REPO / "tests" / "curifactory_suite"
OUT_OF_SCOPE = SUITE / "out_of_scope.txt"
MINIMUM = 252
"""Baseline-passing tests that must pass on cfcompile (issue: at least 250 of 381)."""


def out_of_scope() -> dict[str, str]:
    """``test id  reason`` per line (``#`` starts a comment line)."""
    listed: dict[str, str] = {}
    for line in OUT_OF_SCOPE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test, _, reason = line.partition("  ")
        assert reason.strip(), f"out_of_scope.txt: {test} has no reason"
        assert test not in listed, f"out_of_scope.txt lists {test} twice"
        listed[test] = reason.strip()
    return listed


def run_suite(folder: Path, strict: bool) -> dict[str, str]:
    """test id -> passed / failed / skipped, from a fresh copy of the tree in ``folder``."""
    shutil.copytree(SUITE / "test", folder / "test")
    subprocess.run(["git", "init", "-q", "."], cwd=folder, check=True)  # run info reads git
    xml = folder / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "test", "--ignore=test/experimental", "-q",
           "-p", "no:cacheprovider", "--timeout", "120", f"--junitxml={xml}",
           "--continue-on-collection-errors"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if strict:
        cmd += ["-p", "cfcompat_strict"]
        env["PYTHONPATH"] = str(SUITE)
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=env, timeout=900)
    assert xml.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        test = f"{module}::{case.get('name')}"
        if case.find("skipped") is not None:
            outcomes[test] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcomes[test] = "failed"
        else:
            outcomes.setdefault(test, "passed")
    for line in proc.stdout.splitlines():  # a file that fails to import has no testcase rows
        if line.startswith("ERROR test/") and "::" not in line:
            outcomes[line.split()[1]] = "failed"
    return outcomes


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[dict[str, str], dict[str, str]]:
    base = run_suite(tmp_path_factory.mktemp("curifactory"), strict=False)
    ours = run_suite(tmp_path_factory.mktemp("cfcompile"), strict=True)
    return base, ours


def test_every_baseline_test_passes_on_cfcompile_or_is_listed_out_of_scope(results):
    base, ours = results
    listed = out_of_scope()
    passing = sorted(t for t, o in base.items() if o == "passed")
    assert len(passing) >= 381, f"the baseline itself: {len(passing)} pass"
    unknown = sorted(t for t in listed if t not in base)
    assert not unknown, f"out_of_scope.txt names tests that do not exist: {unknown}"
    failing = [t for t in passing if ours.get(t) != "passed" and t not in listed]
    assert not failing, (
        f"{len(failing)} curifactory test(s) fail on cfcompile and are not on the "
        "out-of-scope list:\n" + "\n".join(failing)
    )
    fixed = sorted(t for t in listed if ours.get(t) == "passed")
    assert not fixed, "these pass now: take them off out_of_scope.txt:\n" + "\n".join(fixed)
    passed = sum(1 for t in passing if ours.get(t) == "passed")
    assert passed >= MINIMUM, f"{passed} of {len(passing)} pass on cfcompile"
