"""Grids, random search, repetitions, the results table and stage timeouts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pytest
from helpers import REPO, job_counts, project_files, run_cli, snakemake

import cfcompile as cf
from cfcompile.sweeps import grid, mean_std, random_search, repeat, search, space_size


@dataclass
class Inner:
    width: int = search(8, 16)
    act: str = "relu"


@dataclass
class P(cf.ExperimentParameters):
    lr: float = search(0.1, 0.01, 0.001)
    batch: int = search(16, 32)
    inner: Inner = field(default_factory=Inner)
    seed: int = 0


def test_grid_size_order_and_names():
    sets = grid(P(name="g"))
    assert len(sets) == 3 * 2 * 2 == space_size(P(name="g"))
    assert sets[0].name == "g_lr=0.1_batch=16_width=8"
    assert sets[1].name == "g_lr=0.1_batch=16_width=16"  # the last axis varies fastest
    assert sets[-1].name == "g_lr=0.001_batch=32_width=16"
    assert len({s.name for s in sets}) == 12 and len({s.params_hash() for s in sets}) == 12
    assert all(isinstance(s.lr, float) and isinstance(s.inner.width, int) for s in sets)
    only = grid(P(name="g", batch=64, inner=Inner(width=4)), lr=[1, 2])  # keyword override
    assert [s.name for s in only] == ["g_lr=1", "g_lr=2"]


def test_random_search_unique_reproducible_and_capped(caplog):
    a = random_search(P(name="r"), n=7, seed=3)
    b = random_search(P(name="r"), n=7, seed=3)
    c = random_search(P(name="r"), n=7, seed=4)
    assert [s.name for s in a] == [s.name for s in b]
    assert [s.name for s in a] != [s.name for s in c]
    assert len({s.params_hash() for s in a}) == 7
    everything = random_search(P(name="r"), n=100, seed=0)
    assert len(everything) == 12 and "space holds 12" in caplog.text
    assert {s.name for s in everything} == {s.name for s in grid(P(name="r"))}


def test_repeat_seeds():
    base = grid(P(name="g"))[0]
    reps = repeat(base, k=3)
    assert [r.seed for r in reps] == [0, 1, 2]
    assert [r.name for r in reps] == [f"{base.name}_seed{i}" for i in range(3)]
    with pytest.raises(ValueError, match="no field 'epoch'"):
        repeat(base, 2, field="epoch")


def test_mean_std_against_hand_computation(tmp_path):
    manager = cf.ArtifactManager("m", cache_path=str(tmp_path))
    a, b = grid(P(name="g"))[:2]
    values = {}
    for base, accs in ((a, [0.5, 0.7, 0.9]), (b, [0.2, 0.2, 0.5])):
        for params, acc in zip(repeat(base, 3), accs, strict=True):
            values[cf.Record(manager, params)] = {"acc": acc, "loss": 1 - acc, "label": "x"}
    out = mean_std(values)
    assert set(out) == {a.name, b.name}
    sa = out[a.name]
    assert sa["n"] == 3 and sa["mean_acc"] == pytest.approx(0.7)
    assert sa["std_acc"] == pytest.approx(math.sqrt(((0.2) ** 2 + 0 + 0.2**2) / 3))
    sb = out[b.name]
    assert sb["mean_loss"] == pytest.approx(0.7)
    assert sb["std_acc"] == pytest.approx(math.sqrt(2 * 0.1**2 + 0.2**2) / math.sqrt(3))
    assert "mean_label" not in sa


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
