"""``cfcompile EXP --eager``: curifactory's semantics, on real files, through the real CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import CHAIN, run_cli


def log_lines(path):
    return path.read_text().split() if path.exists() else []


def test_rerun_skips_cached_stages_and_values_are_right(project, tmp_path):
    root = project(CHAIN)
    log = tmp_path / "log"
    env = {"CHAIN_LOG": str(log)}
    run_cli("chain", "-p", "few", "--eager", cwd=root, env=env)
    first_run = log.read_text().splitlines()
    assert first_run.count("total") == 1 and len(first_run) == 7
    cache = root / "data" / "cache"
    totals = list(cache.glob("chain_*_total_total.json"))
    assert len(totals) == 1
    assert json.loads(totals[0].read_text()) == sum(i * 10 + i for i in range(3))
    log.unlink()
    proc = run_cli("chain", "-p", "few", "--eager", cwd=root, env=env)
    assert not log.exists(), "a rerun executed stages although everything was cached"
    assert "0 stage(s) ran, 7 cached" in proc.stderr


def test_params_combined_in_order_and_filters(project, tmp_path):
    root = project(CHAIN)
    log = tmp_path / "log"
    env = {"CHAIN_LOG": str(log)}
    run_cli("chain", "-p", "more", "-p", "few", "--names", "m9", "s2", "--eager", cwd=root, env=env)
    assert [ln for ln in log.read_text().splitlines() if ln.startswith("first")] == [
        "first m9",
        "first s2",
    ]
    log.unlink()
    run_cli("chain", "-p", "few", "-p", "more", "--indices", "3", "0", "--eager", cwd=root, env=env)
    firsts = [ln for ln in log.read_text().splitlines() if ln.startswith("first")]
    # selection [m9, s0]: m9 is cached from the run above, so only s0 executes
    assert firsts == ["first s0"]


def test_overwrite_on_params_and_flag(project, tmp_path):
    root = project(CHAIN)
    log = tmp_path / "log"
    env = {"CHAIN_LOG": str(log)}
    run_cli("chain", "-p", "few", "--eager", cwd=root, env=env)
    log.unlink()
    run_cli("chain", "-p", "few", "--eager", "--overwrite", cwd=root, env=env)
    assert len(log.read_text().splitlines()) == 7


def test_overwrite_field_reruns_that_set_and_the_aggregate(project, tmp_path):
    files = dict(CHAIN)
    files["params/ow.py"] = """
        from params import Params

        def get_params():
            return [Params(name="s0", x=0), Params(name="s1", x=1, overwrite=True)]
    """
    root = project(files)
    log = tmp_path / "log"
    env = {"CHAIN_LOG": str(log)}
    run_cli("chain", "-p", "ow", "--eager", cwd=root, env=env)
    log.unlink()
    run_cli("chain", "-p", "ow", "--eager", cwd=root, env=env)
    assert log.read_text().splitlines() == ["first s1", "second s1", "total"]


def test_project_found_from_a_subdirectory(project, tmp_path):
    root = project(CHAIN)
    sub = root / "params"
    proc = run_cli("chain", "-p", "few", "--eager", cwd=sub, env={"CHAIN_LOG": str(tmp_path / "l")})
    assert (root / "data" / "cache").is_dir(), proc.stderr


@pytest.mark.oracle
def test_iris_cache_names_match_curifactory(iris_copy, tmp_path):
    """The bundled example, run eagerly by cfcompile and by curifactory's own `experiment`."""
    pytest.importorskip("curifactory", reason="curifactory 0.20.5 is the test oracle")
    pytest.importorskip("sklearn", reason="the iris example needs scikit-learn")
    proc = run_cli("iris", "-p", "base", "--eager", cwd=iris_copy)
    assert "rf_seed3" in proc.stdout  # the aggregate printed its score table
    cache = iris_copy / "data" / "cache"
    # the reuse index (.cfcompile-reuse) is cfcompile's own hidden folder, not a cache file
    ours = sorted(p.name for p in cache.iterdir() if not p.name.startswith(".cfcompile"))
    theirs_root = tmp_path / "theirs"
    shutil.copytree(iris_copy, theirs_root, ignore=shutil.ignore_patterns("data", "__pycache__"))
    for rel in ("experiments/iris.py", "params/__init__.py"):
        path = theirs_root / rel
        text = path.read_text().replace("import cfcompile as cf", "import curifactory as cf")
        # curifactory's @stage has no resources/threads/timeout/retries/metrics/uses keywords
        text = re.sub(
            r"^\s*(resources|threads|timeout|retries|metrics|uses)=.*\n", "", text, flags=re.M
        )
        path.write_text(text.replace("from cfcompile.", "from curifactory."))
    exe = shutil.which("experiment", path=os.path.dirname(sys.executable)) or "experiment"
    subprocess.run(
        [exe, "iris", "-p", "base", "--no-dag"],
        cwd=theirs_root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    theirs = sorted(
        p.name for p in (theirs_root / "data" / "cache").iterdir() if p.suffix != ".log"
    )
    theirs = [n for n in theirs if n != "params_registry.json"]
    assert ours == theirs
    assert len(ours) == 6 * 11 + 5
    # and the values agree
    for name in ours:
        if name.endswith("_scores.json") or name.endswith("_comparison.json"):
            a = json.loads((iris_copy / "data" / "cache" / name).read_text())
            b = json.loads((theirs_root / "data" / "cache" / name).read_text())
            assert a == b, name


def test_eager_runs_are_numbered_in_the_run_store_with_status_and_registry(project, tmp_path):
    """--eager is one run in one process, so it keeps curifactory's run store as `experiment`
    does: store.json numbers the runs with their command line and end status (an exception
    from run() is recorded and still fails the command), params_registry.json each set."""
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", "--eager", cwd=root, env=env)
    run_cli("chain", "-p", "few", "--eager", cwd=root, env=env)
    failed = run_cli("chain", "-p", "more", "--eager", "--overwrite", cwd=root, check=False)
    assert failed.returncode != 0 and "CHAIN_LOG" in failed.stderr
    runs = json.loads((root / "data" / "store.json").read_text())
    assert [(r["run_number"], r["status"]) for r in runs] == [
        (1, "complete"),
        (2, "complete"),
        (3, "error"),
    ]
    assert runs[0]["cli"] == "cfcompile chain -p few --eager"
    assert runs[0]["param_files"] == ["few"] and runs[0]["reference"].startswith("chain_1_")
    assert runs[2]["error"].startswith("KeyError - ") and "CHAIN_LOG" in runs[2]["error"]
    registry = json.loads((root / "data" / "params_registry.json").read_text())
    hashes = {p.name.split("_")[1] for p in (root / "data" / "cache").glob("chain_*_first_*.json")}
    assert hashes and hashes <= set(registry)
