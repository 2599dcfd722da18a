"""Sweeps through the real CLI and Snakemake: a stage timeout reported by ``--status`` and
``--results``, and the bundled sweep example."""

from __future__ import annotations

import json

import pytest
from helpers import REPO, job_counts, project_files, run_cli, snakemake

TIMEOUT = project_files("timeout")


def test_timed_out_stage_is_reported_and_results_table(project, tmp_path):
    root = project(TIMEOUT)
    snakefile = run_cli("slow", "-p", "few", cwd=root).stdout
    proc = snakemake(
        "-s", "/dev/stdin", "--cores", "2", "-k", cwd=root, stdin=snakefile, check=False
    )
    assert proc.returncode != 0
    status = run_cli("slow", "-p", "few", "--status", cwd=root, check=False).stdout
    line = next(ln for ln in status.splitlines() if ln.split()[:2] == ["work", "s2"])
    assert "timed out" in line and line.split()[-1].endswith(".log")
    assert "totals: done 2, timed out 1" in status
    results = run_cli("slow", "-p", "few", "--results", "--sort", "acc", "--desc", cwd=root)
    rows = [json.loads(ln) for ln in (root / "results" / "slow.jsonl").read_text().splitlines()]
    by_name = {r["name"]: r for r in rows}
    assert by_name["s2"]["status"] == "timed out (work)"
    assert by_name["s0"]["status"] == "done" and by_name["s1"]["acc"] == 0.1
    assert by_name["s1"]["x"] == 1 and by_name["s1"]["loss"] == 1.0
    assert by_name["s1"]["time_work"] < 1 and by_name["s1"]["host"]
    assert "git_commit" in by_name["s1"] and by_name["s1"]["start"] <= by_name["s1"]["end"]
    printed = results.stdout
    assert printed.index("s1") < printed.index("s0")  # sorted by acc, largest first
    assert (root / "results" / "slow.parquet").exists() or (root / "results" / "slow.csv").exists()
    failure = json.loads(
        next((root / ".cfcompile" / "slow" / "failures").glob("work_*.json")).read_text()
    )
    assert failure["kind"] == "timeout" and "time limit of 1 s" in failure["message"]


def test_sweep_example_runs_through_snakemake(tmp_path):
    import shutil

    root = tmp_path / "sweep"
    shutil.copytree(
        REPO / "workflows" / "sweep", root, ignore=shutil.ignore_patterns("data", ".*", "results")
    )
    snakefile = run_cli("sweep", "-p", "study", "-p", "random", cwd=root).stdout
    dry = snakemake("-s", "/dev/stdin", "-n", cwd=root, stdin=snakefile)
    plan = json.loads(run_cli("sweep", "-p", "study", "-p", "random", "--dry-run", "--json",
                              cwd=root).stdout)  # fmt: skip
    units = plan["units"]  # automatic grouping: 33 chains of 3 stages, packed per core
    assert units["units"] > 1 and units["single_node_jobs"] == 1
    assert job_counts(dry.stdout) == {
        "all": 1,
        "cfcompile_results": 1,
        "cfcompile_batch": units["units"],
        "summarize": 1,
    }
    snakemake("-s", "/dev/stdin", "--cores", "2", cwd=root, stdin=snakefile)
    rows = [json.loads(ln) for ln in (root / "results" / "sweep.jsonl").read_text().splitlines()]
    assert len(rows) == 33 and all(r["status"] == "done" for r in rows)
    assert {"degree", "l2", "data.noise", "seed", "mse", "r2", "time_fit"} <= set(rows[0])
    summary = json.loads(
        next((root / "data" / "cache").glob("sweep_*_summarize_repetitions.json")).read_text()
    )
    grid_groups = {k: v for k, v in summary.items() if k.startswith("grid_")}
    assert len(grid_groups) == 9 and all(v["n"] == 3 for v in grid_groups.values())
    first = grid_groups["grid_degree=1_l2=0"]
    mses = [r["mse"] for r in rows if r["name"].startswith("grid_degree=1_l2=0_seed")]
    assert first["mean_mse"] == pytest.approx(sum(mses) / 3)
