"""The local benchmark runs end to end, and both tools agree on the iris results.

Runs ``benchmarks/local_bench.py --quick --only g,a`` as a researcher would (real cfcompile,
Snakemake and curifactory 0.20.5 commands), so a benchmark that silently measures a failing
command, or two tools computing different things, is caught before anyone quotes its numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One quick run of workloads g (curifactory's own iris example) and a (the iris copy)."""
    out = tmp_path_factory.mktemp("bench") / "local_bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "local_bench.py"), "--quick", "--only", "g,a"]
        + ["--out", str(out), "--timeout", "240"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_quick_iris_both_tools_succeed_with_equal_results(bench_run):
    report = bench_run
    rows = {r["runner"]: r for r in report["rows"] if r["workload"] == "a"}
    assert {"cfcompile", "curifactory serial", "curifactory --parallel 2"} <= set(rows)
    for runner, row in rows.items():
        assert row["workload"] == "a"
        assert (row["cold_exit"], row["noop_exit"]) == (0, 0), (runner, row.get("cold_error_tail"))
        assert row["cold_wall_s"] > 0 and row["noop_wall_s"] > 0
    ours = rows["cfcompile"]["results"]
    scores = {name: v for name, v in ours.items() if name.endswith("_test_model_scores.json")}
    assert len(scores) == 6 and all(0.5 < v["accuracy"] <= 1 for v in scores.values())
    for runner in ("curifactory serial", "curifactory --parallel 2"):
        theirs = rows[runner]["results"]
        # every cache file cfcompile wrote (6 score files + the comparison) has the same name
        # and value under curifactory; --parallel may leave extra per-worker aggregates
        assert {name: theirs.get(name) for name in ours} == ours, runner
        assert rows[runner]["results_match_cfcompile"] is True
    assert rows["cfcompile"]["nodes"] == 6 * 3 + 1


def test_the_readme_pipe_is_measured_with_its_phases(bench_run):
    report = bench_run
    readme = (REPO / "README.md").read_text()
    assert report["readme_pipe"] in readme
    ours = next(r for r in report["rows"] if r["runner"] == "cfcompile" and r["workload"] == "g")
    # curifactory's own example defines its sets: the README's pipe without -p
    assert ours["command"] == "set -o pipefail; " + report["readme_pipe"].replace(
        "cfcompile iris -p base", "cfcompile iris"
    )
    phases = ours["phases"]
    assert set(phases) == {"compile", "snakemake_start", "jobs", "after_last_stage", "exit"}
    assert all(v >= 0 for v in phases.values())
    assert abs(sum(phases.values()) - ours["cold_wall_s"]) < 0.1, (phases, ours["cold_wall_s"])
    assert phases["compile"] > 0.2  # it imports scikit-learn: never a zero-length phase
    theirs = [r for r in report["rows"] if r["workload"] == "g" and r["runner"] != "cfcompile"]
    assert [r["cold_exit"] for r in theirs] == [0, 0]
