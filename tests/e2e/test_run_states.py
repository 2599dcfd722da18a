"""The end of a sweep in every state a run can leave: never run, partly cached, one seed of a
configuration failed, every seed of one failed (its aggregate blocked), every set failed, and
interrupted by Ctrl-C. In each, --report renders (and opens in headless Chromium), --results,
--status and --dag answer without a traceback, and the numbers they print are honest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SNAKEMAKE, body_data, browse, find_chromium, run_cli, write_project
from helpers import pipe as readme_pipe

FILES = {
    "params/__init__.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class Params(cf.ExperimentParameters):
            model: str = "good"
            seed: int = 0
    """,
    "params/sweep.py": """
        from params import Params


        def get_params():
            return [
                Params(name=f"{m}_seed{s}", model=m, seed=s)
                for m in ("good", "flaky", "bad")
                for s in range(3)
            ]
    """,
    "experiments/states.py": """
        import os
        import time

        import cfcompile as cf
        from cfcompile.caching import JsonCacher, PickleCacher


        @cf.stage(outputs=["model"], cachers=[PickleCacher])
        def train(record):
            p = record.params
            if os.environ.get("STATES_SLOW") and p.model == "bad":
                time.sleep(60)
            if os.environ.get("STATES_FAIL_ALL"):
                raise RuntimeError("everything diverged")
            if os.environ.get("STATES_ALL_GOOD"):
                return {"w": p.seed}
            if p.model == "bad" or (p.model == "flaky" and p.seed == 1):
                raise FloatingPointError(f"{p.model} diverged")
            return {"w": p.seed}


        @cf.stage(inputs=["model"], outputs=["scores"], cachers=[JsonCacher])
        def evaluate(record, model):
            base = {"good": 0.9, "flaky": 0.8, "bad": 0.1}[record.params.model]
            return {"acc": base + 0.01 * model["w"], "loss": 1 - base}


        @cf.aggregate(inputs=["scores"], outputs=["summary"], cachers=[JsonCacher])
        def summarize(record, records, scores):
            print(f"summarize saw {len(scores)} sets")
            return len(scores)


        def run(param_sets, manager):
            for p in param_sets:
                evaluate(train(cf.Record(manager, p)))
            summarize(cf.Record(manager, None))
    """,
}
SEL = ("states", "-p", "sweep")


def pipe(root: Path, env: dict | None = None, *more: str) -> subprocess.CompletedProcess:
    """The README's command: compile, then Snakemake keeps going past a failed set."""
    return readme_pipe(root, *SEL, cores="2", snakemake_args=("-k", *more), env=env)


def every_view(root: Path, tmp_path: Path, state: str) -> dict:
    """--report (opened in Chromium), --results, --status and --dag: none may crash."""
    report = tmp_path / f"{state}.html"
    made = run_cli(*SEL, "--report", "-o", str(report), cwd=root, check=False)
    assert made.returncode == 0 and "Traceback" not in made.stderr, made.stderr
    dom = browse(find_chromium(), f"file://{report}", tmp_path / "chromium")
    data = body_data(dom)
    assert "result-rows" in data, state  # the page's own script ran to the end
    results = run_cli(*SEL, "--results", cwd=root, check=False)
    assert results.returncode == 0 and "Traceback" not in results.stderr, results.stderr
    best = run_cli(*SEL, "--results", "--best", cwd=root, check=False)
    assert best.returncode == 0 and "Traceback" not in best.stderr, best.stderr
    status = run_cli(*SEL, "--status", cwd=root, check=False)
    assert status.returncode in (0, 1) and "Traceback" not in status.stderr, status.stderr
    dag = run_cli(*SEL, "--dag", cwd=root, check=False)
    assert dag.returncode == 0 and "digraph" in dag.stdout, dag.stderr
    return {"dom": dom, "data": data, "best": best.stdout, "status": status.stdout}


def config_cells(dom: str) -> dict[str, list[str]]:
    """The report's configuration table: name -> its cells as the browser shows them."""
    import re

    start = dom.index('id="configurations"')
    body = dom[dom.index("<tbody>", start) : dom.index("</tbody>", start)]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def root(tmp_path):
    return write_project(tmp_path / "proj", FILES)


def test_never_run_and_partly_cached(root, tmp_path):
    seen = every_view(root, tmp_path, "never-run")
    assert "not run" in seen["status"] or "missing" in seen["status"]
    run_cli(*SEL, "--names", "good_seed0", "good_seed1", "--eager", cwd=root)
    seen = every_view(root, tmp_path, "partly-cached")
    cells = config_cells(seen["dom"])
    # two of the good configuration's three seeds have results: n counts them, not the three
    assert cells["good"][:2] == ["2", "2 of 3 seeds, 1 not run"]
    assert "2 of 3 seeds, 1 not run" in seen["best"]


def test_failed_seeds_are_counted_apart_and_the_end_of_the_run_says_what_is_best(root, tmp_path):
    proc = pipe(root)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    # the end of the run names the real command, prints the best configurations over seeds
    assert "Every node's state: cfcompile states -p sweep --status" in out
    assert "best 2 of 3 configuration(s) by acc (highest first)" in out
    assert "not ranked, no finished set with acc: model=bad (all 3 seeds failed)" in out
    # the table of what finished is written though a set failed
    table = [
        json.loads(x) for x in (root / "results" / "states-sweep.jsonl").read_text().splitlines()
    ]
    assert sorted(r["status"].split(" (")[0] for r in table).count("done") == 5

    seen = every_view(root, tmp_path, "failed")
    cells = config_cells(seen["dom"])
    good = [0.9 + 0.01 * w for w in range(3)]
    mean = sum(good) / 3
    std = (sum((x - mean) ** 2 for x in good) / 3) ** 0.5
    assert cells["good"][:3] == ["3", "3 seeds", f"{mean:.4g} ± {std:.2g}"]
    flaky = [0.8, 0.82]  # seed 1 failed: the mean is over the two that finished
    assert cells["flaky"][:3] == ["2", "2 of 3 seeds, 1 failed", f"{sum(flaky) / 2:.4g} ± 0.01"]
    assert cells["bad"][:3] == ["0", "all 3 seeds failed", ""]
    lines = seen["best"].splitlines()
    assert lines[1].split()[:2] == ["1.", "model=good"] and "(3 seeds)" in lines[1]
    assert "(2 of 3 seeds, 1 failed)" in lines[2]
    assert "blocked" in seen["status"]  # the aggregate waits for the failed sets


def test_a_run_that_succeeds_ends_with_what_the_aggregate_printed_and_the_best(root):
    proc = pipe(root, {"STATES_ALL_GOOD": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "summarize [aggregate " in out and "] printed:\nsummarize saw 9 sets" in out
    assert "best 3 of 3 configuration(s) by acc (highest first), mean ± std over seed:" in out
    assert "cfcompile states -p sweep --results --best" in out
    status = run_cli(*SEL, "--status", cwd=root).stdout
    assert "last run: " in status and "snakemake -s /dev/stdin --cores 2 -k" in status
    assert "succeeded" in status


def test_one_finished_seed_has_no_spread_to_show(root, tmp_path):
    run_cli(*SEL, "--names", "good_seed0", "--eager", cwd=root)
    best = run_cli(*SEL, "--results", "--best", cwd=root).stdout
    assert "acc 0.9 (n=1)" in best and "± 0 " not in best and "±0" not in best


def test_every_set_failed(root, tmp_path):
    proc = pipe(root, {"STATES_FAIL_ALL": "1"})
    assert proc.returncode == 1 and "9 node(s) failed in this run" in proc.stdout + proc.stderr
    seen = every_view(root, tmp_path, "all-failed")
    assert seen["data"]["result-rows"] == "9"
    assert "nothing to rank" in run_cli(*SEL, "--results", "--best", cwd=root).stderr


def test_interrupted_by_ctrl_c(root, tmp_path):
    snakefile = run_cli(*SEL, "-o", str(root / "Snakefile"), cwd=root).stdout
    del snakefile
    env = {**os.environ, "STATES_SLOW": "1"}
    run = subprocess.Popen(
        [*SNAKEMAKE, "-s", str(root / "Snakefile"), "--cores", "2", "-k"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    logs = root / ".cfcompile" / "states" / "logs"
    while time.time() < deadline and not any(
        "bad" in p.read_text(errors="replace") for p in logs.rglob("*.log")
    ):
        time.sleep(0.5)
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole group
    run.wait(timeout=120)
    seen = every_view(root, tmp_path, "interrupted")
    assert "interrupted" in seen["status"], seen["status"]


def test_the_results_formats_are_what_other_tools_read(root):
    run_cli(*SEL, "--names", "good_seed0", "flaky_seed0", "--eager", cwd=root)
    import csv
    import io

    text = run_cli(*SEL, "--results", "--format", "csv", cwd=root).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["name"] for r in rows} >= {"good_seed0", "flaky_seed0"}
    data = json.loads(run_cli(*SEL, "--results", "--format", "json", cwd=root).stdout)
    assert {r["name"]: r["acc"] for r in data if r["acc"] is not None} == {
        "good_seed0": 0.9,
        "flaky_seed0": 0.8,
    }
    md = run_cli(*SEL, "--results", "--best", "--format", "md", cwd=root).stdout.splitlines()
    assert md[0].startswith("| rank | configuration | model |")
    assert md[2].split("|")[3].strip() == "good"
    assert sys.executable  # the formats need nothing beyond the standard library


def test_the_logger_plugin_shows_each_stage_the_failures_and_the_end(root):
    """``--logger cfcompile``, installed by the README's commands (plugins/)."""
    import importlib.util

    assert importlib.util.find_spec("snakemake_logger_plugin_cfcompile"), (
        "pip install -e plugins/snakemake-logger-plugin-cfcompile (the README's install)"
    )
    proc = pipe(root, None, "--logger", "cfcompile")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    lines = out.splitlines()
    failed = [ln for ln in lines if ln.startswith("failed: ")]
    assert failed and all("(log: " in ln for ln in failed)
    # one line per stage group, done out of what the compile planned, failures counted
    units = [ln for ln in lines if ln.startswith("train, evaluate ") and "/" in ln]
    assert units and "failed" in units[-1], out[-3000:]
    assert any(ln.startswith("summarize ") and "0/1" in ln for ln in lines)  # blocked
    # the Snakefile's end still reaches the terminal through the plugin
    assert "Every node's state: cfcompile states -p sweep --status" in out
    assert "best 2 of 3 configuration(s) by acc" in out
    assert "SNAKEMAKE" not in out and "Building DAG of jobs" not in out  # no banner
