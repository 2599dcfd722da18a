"""The local benchmark runs end to end, and both tools agree on the iris results.

Runs ``benchmarks/local_bench.py --quick --only a`` as a researcher would (real cfcompile,
Snakemake and curifactory 0.20.5 commands), so a benchmark that silently measures a failing
command, or two tools computing different things, is caught before anyone quotes its numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO


def test_quick_iris_both_tools_succeed_with_equal_results(tmp_path):
    out = tmp_path / "local_bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "local_bench.py"), "--quick", "--only", "a"]
        + ["--out", str(out), "--timeout", "240"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = {r["runner"]: r for r in json.loads(out.read_text())["rows"]}
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
