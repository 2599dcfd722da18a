"""On the real single-node Slurm cluster (tests/slurm/cluster.sh): both routes, failures, resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from helpers import CHAIN, project_files, run_cli

pytestmark = pytest.mark.slurm

FAST = [  # the bundled profile, with the test cluster's quick status checks
    "--default-resources",
    "slurm_account=root",
    "mem_mb=400",
    "runtime=10",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
]


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "-o", "JobID,State"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def wait_for(job_ids: list[str], tasks: int, timeout: float = 240) -> dict[str, str]:
    """Until sacct lists all ``tasks`` array tasks and none is pending or running.

    sacct can lag a few seconds behind squeue, so the count matters, not only the states.
    """
    from cfcompile.backends.slurm.sacct import expand_array_id as _expand

    busy = ("PENDING", "RUNNING", "COMPLETING")
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = subprocess.run(
            ["squeue", "-h", "-j", ",".join(job_ids)], capture_output=True, text=True
        ).stdout.strip()
        states = {t: s for jid, s in sacct_states(job_ids).items() for t in _expand(jid)}
        if (
            not queued
            and len(states) == tasks
            and not any(s.startswith(busy) for s in states.values())
        ):
            return states
        time.sleep(2)
    raise AssertionError(f"jobs {job_ids} still queued after {timeout} s: {sacct_states(job_ids)}")


def submitted_ids(stdout: str) -> list[str]:
    return [line.split("\t")[0] for line in stdout.splitlines() if "\t" in line]


def submitted_tasks(stdout: str) -> int:
    """Array tasks a --submit printed (``N task(s)`` per array), and 1 for the retry job."""
    arrays = [line for line in stdout.splitlines() if "\t" in line and "task(s)" in line]
    retry = any("\tretry job" in line for line in stdout.splitlines())
    return sum(int(line.split(": ")[1].split()[0]) for line in arrays) + retry


def eager_reference(iris_copy: Path, tmp_path: Path) -> Path:
    ref = tmp_path / "eager"
    shutil.copytree(iris_copy, ref)
    run_cli("iris", "-p", "base", "--eager", cwd=ref)
    return ref / "data" / "cache"


def same_results(ours: Path, ref: Path) -> None:
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in ref.iterdir())
    for p in ours.glob("*.json"):
        if "metadata" not in p.name and "reportables" not in p.name:
            assert json.loads(p.read_text()) == json.loads((ref / p.name).read_text()), p.name


def test_iris_through_snakemake_slurm_profile(slurm, iris_copy, tmp_path):
    pytest.importorskip("sklearn")
    ref = eager_reference(iris_copy, tmp_path)
    proc = run_cli(
        "iris",
        "-p",
        "base",
        "--run",
        "--profile",
        "slurm",
        "--",
        *FAST,
        cwd=iris_copy,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    same_results(iris_copy / "data" / "cache", ref)
    run_id = re.search(r"SLURM run ID: (\S+)", proc.stderr + proc.stdout).group(1)
    out = subprocess.run(  # the plugin names every job after its run id
        ["sacct", "-n", "-P", "-X", "--name", run_id, "-o", "JobID,State,Timelimit,ReqMem"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # grouping for the cluster, not the login node: never run, 60 s assumed a stage, so 3
    # chains (load, train, test) make a 9-minute job; 6 sets are 2 jobs, plus the aggregate
    # (the all and results rules are local)
    assert "3 per Slurm job" in proc.stderr
    assert len(out) == 3
    rows = [line.split("|") for line in out]
    assert {r[1] for r in rows} == {"COMPLETED"}
    # train_model declares mem_mb=600, runtime=5: a job of 3 chains gets 3 x 5 minutes and
    # the largest memory; the aggregate gets the profile's defaults
    limits = sorted((r[2], r[3]) for r in rows)
    assert limits.count(("00:15:00", "600M")) == 2 and limits.count(("00:10:00", "400M")) == 1


def test_iris_through_submitit_arrays(slurm, iris_copy, tmp_path):
    pytest.importorskip("sklearn")
    ref = eager_reference(iris_copy, tmp_path)
    proc = run_cli("iris", "-p", "base", "--submit", "slurm", "--account", "root", cwd=iris_copy)
    ids = submitted_ids(proc.stdout)  # the chains, the aggregate, the retry job
    assert len(ids) == 3 and "after -" in proc.stdout and f"after {ids[0]}" in proc.stdout
    assert "retry job: after all of them" in proc.stdout
    # never run: 60 s assumed a stage, 3 chains of 3 stages make a 9-minute task
    assert "3 chain(s) per task" in proc.stderr
    states = wait_for(ids, tasks=4)  # 2 chain tasks, 1 aggregate, the retry job
    assert set(states.values()) == {"COMPLETED"}
    limits = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", ids[0], "-o", "Timelimit,ReqMem"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # train_model's declared memory; the profile's 60 minutes, since load_data and
    # test_model never ran and declare no runtime (a guess is no limit)
    assert set(limits) == {"01:00:00|600M"}
    same_results(iris_copy / "data" / "cache", ref)
    status = run_cli("iris", "-p", "base", "--status", cwd=iris_copy).stdout
    assert "totals: done 19" in status


FAILING = CHAIN["experiments/chain.py"].replace(
    '_log(f"second {record.params.name}")',
    '_log(f"second {record.params.name}")\n    assert record.params.x != 1, "boom"',
)


def test_failure_is_isolated_dependents_cancelled_and_resume_submits_only_missing(
    slurm, project, tmp_path, monkeypatch
):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project({**CHAIN, "experiments/chain.py": FAILING})
    one_each = ("--submit", "slurm", "--account", "root", "--batch", "1")
    proc = run_cli("chain", "-p", "few", *one_each, cwd=root)
    chains, agg, retry = submitted_ids(proc.stdout)
    states = wait_for([chains, agg, retry], tasks=5)
    del states[retry]  # it found nothing to retry: a failure is not a limit
    assert sorted(states.values()) == ["CANCELLED", "COMPLETED", "COMPLETED", "FAILED"]
    assert states[agg] == "CANCELLED"
    cache = root / "data" / "cache"
    assert len(list(cache.glob("chain_*_second_b.json"))) == 2
    status = run_cli("chain", "-p", "few", "--status", cwd=root, check=False).stdout
    failed = [ln for ln in status.splitlines() if ln.split()[2:3] == ["failed"]]
    assert len(failed) == 1 and "second" in failed[0] and "s1" in failed[0]
    log_path = failed[0].split()[-1]
    assert "boom" in Path(log_path).read_text()
    assert "cancelled (upstream failed or scancel) 1, done 5, failed 1" in status

    fixed = textwrap.dedent(CHAIN["experiments/chain.py"]).lstrip()
    (root / "experiments" / "chain.py").write_text(fixed)
    again = run_cli("chain", "-p", "few", *one_each, cwd=root)
    assert "level 0 chains: 1 task(s), 1 node(s)" in again.stdout  # only second/s1
    assert "level 1 aggregates: 1 task(s), 1 node(s)" in again.stdout
    states = wait_for(submitted_ids(again.stdout), tasks=3)
    assert set(states.values()) == {"COMPLETED"}
    total = next(cache.glob("chain_*_total_total.json"))
    assert json.loads(total.read_text()) == 33
    assert "totals: done 7" in run_cli("chain", "-p", "few", "--status", cwd=root).stdout


def test_200_node_graph_uses_no_more_sbatch_calls_than_stage_waves(
    slurm, project, tmp_path, monkeypatch
):
    """Counts real sbatch calls through a logging pass-through on PATH."""
    shim = tmp_path / "bin"
    shim.mkdir()
    real = shutil.which("sbatch")
    calls = tmp_path / "sbatch_calls"
    (shim / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexec "{real}" "$@"\n')
    (shim / "sbatch").chmod(0o755)
    files = dict(CHAIN)
    files["params/many.py"] = """
        from params import Params

        def get_params():
            return [Params(name=f"m{i}", x=i) for i in range(99)]
    """
    files["experiments/wide.py"] = (
        CHAIN["experiments/chain.py"]
        .replace(
            "total(cf.Record(manager, None))",
            "total(cf.Record(manager, None))\n    total(cf.Record(manager, params[0]))",
        )
        .replace(
            "def run(param_sets, manager):",
            "def run(param_sets, manager):\n    params = param_sets",
        )
    )
    root = project(files)
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    env = {"PATH": f"{shim}:{os.environ['PATH']}"}
    proc = run_cli(
        "wide", "-p", "many", "--submit", "slurm", "--account", "root", cwd=root, env=env
    )
    ids = submitted_ids(proc.stdout)
    nodes = sum(int(m) for m in re.findall(r"(\d+) node\(s\)", proc.stdout))
    assert nodes == 99 * 2 + 2 == 200  # the graph is 200 nodes and all of them are submitted
    n_calls = len(calls.read_text().splitlines())
    stage_waves = 3  # first -> second -> total
    assert n_calls == len(ids) <= stage_waves + 1  # and the retry job
    subprocess.run(["scancel", *ids], check=False)


def test_stage_timeout_holds_in_a_slurm_job(slurm, project, tmp_path):
    TIMEOUT = project_files("timeout")

    root = project(TIMEOUT)
    proc = run_cli(
        "slow", "-p", "few", "--submit", "slurm", "--account", "root", "--batch", "1", cwd=root
    )
    array, retry = submitted_ids(proc.stdout)
    states = wait_for([array, retry], tasks=4)
    assert states.pop(retry) == "COMPLETED"  # the stage's own timeout is no Slurm TIMEOUT
    assert sorted(states.values()) == ["COMPLETED", "COMPLETED", "FAILED"]
    status = run_cli("slow", "-p", "few", "--status", cwd=root, check=False).stdout
    line = next(ln for ln in status.splitlines() if ln.split()[:2] == ["work", "s2"])
    assert "timed out" in line and f"{array}_" in line
    rows = run_cli("slow", "-p", "few", "--results", cwd=root)
    table = [json.loads(x) for x in (root / "results" / "slow.jsonl").read_text().splitlines()]
    by_name = {r["name"]: r for r in table}
    assert by_name["s2"]["status"] == "timed out (work)" and rows.returncode == 0
    assert by_name["s1"]["slurm_job_id"]  # provenance: the Slurm job that produced it


def test_the_profile_at_the_repository_root_runs_a_workflow(slurm, project, tmp_path):
    """``snakemake --profile cluster_profiles/slurm`` from a checkout, as the profile's own
    comment and the docs tell an HPC user to run it."""
    from helpers import REPO, SNAKEMAKE

    root = project(CHAIN)
    env = {**os.environ, "CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", "-o", str(root / "Snakefile"), cwd=root, env=env)
    proc = subprocess.run(
        [*SNAKEMAKE, "--profile", "cluster_profiles/slurm", "-s", str(root / "Snakefile")]
        + ["-d", str(root), *FAST],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted((tmp_path / "log").read_text().split("\n")) == sorted(
        ["first s0", "first s1", "first s2", "second s0", "second s1", "second s2", "total", ""]
    )


def test_a_slurm_task_gives_each_node_what_a_fresh_process_gives(slurm, tmp_path):
    """The route-equivalence check (tests/e2e/test_route_equivalence.py) on the cluster."""
    from helpers import check_fresh, edit, route_cfcompile, route_setup, seen

    root, env, ext = route_setup(tmp_path, "slurm")
    edit(ext)
    env["ROUTES_FOO"] = "b"
    proc = route_cfcompile(
        "routes", "-p", "four", "--submit", "slurm", "--account", "root", cwd=root, env=env
    )
    # the default packing: the 4 sets' chains in one task (each node still a fresh module)
    states = wait_for(submitted_ids(proc.stdout), tasks=submitted_tasks(proc.stdout))
    assert set(states.values()) == {"COMPLETED"}, states
    check_fresh(seen(root), "slurm")
