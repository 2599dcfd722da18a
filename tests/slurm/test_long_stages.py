"""Long stages on the real test cluster (issue 32): a checkpointing stage that needs more time
than its task's limit, and one that a higher-priority job preempts, both finish with the value
of an uninterrupted run, through Slurm's warning signal, the task's own ``scontrol requeue``
and a resume from the checkpoint.

Slurm holds a requeued job for 121 s (BeginTime); the tests move it to now from outside the
job (``scontrol update StartTime=now``), as docs/slurm-test-cluster.md measured. The measured
lost work per interruption is printed (run with ``-s`` to see it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from helpers import REPO, project_files, run_cli, write_project
from test_slurm import sacct_states, submitted_ids
from test_strict_site import outside_slurm

pytestmark = pytest.mark.slurm
LONG = project_files("longstage")
GRACE_S = 30  # checkpoint_signal_seconds 120, capped at a quarter of a 2-minute limit


def profile(tmp_path: Path, every: int) -> Path:
    dest = tmp_path / "profile"
    shutil.copytree(REPO / "cluster_profiles" / "slurm", dest)
    text = (dest / "cfcompile.yaml").read_text()
    text = text.replace("checkpoint_every_seconds: 60", f"checkpoint_every_seconds: {every}")
    (dest / "cfcompile.yaml").write_text(text)
    return dest


def reference(tmp_path: Path, steps: int) -> float:
    """The uninterrupted --eager run's value (no sleep: the same arithmetic)."""
    root = write_project(tmp_path / "ref", LONG)
    env = {"LONG_STEPS": str(steps), "LONG_STEP_SECONDS": "0"}
    run_cli("long", "-p", "one", "--eager", cwd=root, env=env)
    return json.loads(next((root / "data" / "cache").glob("*_score_score.json")).read_text())


def squeue(*args: str) -> str:
    return subprocess.run(["squeue", "-h", *args], capture_output=True, text=True).stdout


def wait_pushing(job_ids: list[str], timeout: float) -> list[str]:
    """Until none of ``job_ids`` is queued; each requeued task's BeginTime is moved to now.
    Returns the tasks pushed (one per requeue)."""
    pushed = []
    seen: dict[str, float] = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = [line.split() for line in squeue("-r", "-j", ",".join(job_ids), "-o",
                                                "%i %T %r").splitlines()]  # fmt: skip
        if not rows:
            return pushed
        for job, state, reason in (r for r in rows if len(r) == 3):
            if state != "PENDING" or reason != "BeginTime":
                seen.pop(job, None)
                continue
            # not at once: slurmd refuses a start in the second its credential was revoked
            # ("Killing non-startable batch job: Job credential revoked", state FAILED)
            if time.time() - seen.setdefault(job, time.time()) >= 3:
                subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"],
                               check=False, capture_output=True)  # fmt: skip
                pushed.append(job)
                seen.pop(job)
        time.sleep(1)
    raise AssertionError(
        f"{job_ids} still queued after {timeout} s: {squeue('-j', ','.join(job_ids))}"
    )


def attempts(log: Path) -> list[dict]:
    """Per attempt of the long stage (by Slurm's restart count): where it started, its last
    step and when each step ended."""
    out: dict[str, dict] = {}
    for line in log.read_text().splitlines():
        stamp, restart, _, what = line.split(" ", 3)
        if what.startswith("train from"):
            out[restart] = {"restart": restart, "from": int(what.split()[-1]), "steps": {}}
        elif what.startswith("step ") and restart in out:
            out[restart]["steps"][int(what.split()[1])] = float(stamp)
    return list(out.values())


def lost_work(runs: list[dict], step_s: float = 1.0) -> list[float]:
    """Seconds of work each interruption threw away: the steps an attempt did that the next
    attempt did again (it resumed from an earlier step than the last one done)."""
    return [(max(a["steps"], default=a["from"]) - b["from"]) * step_s
            for a, b in zip(runs, runs[1:], strict=False)]  # fmt: skip


def cache_value(root: Path) -> float:
    return json.loads(next((root / "data" / "cache").glob("*_score_score.json")).read_text())


def test_a_stage_three_times_longer_than_its_limit_is_requeued_and_resumes(slurm, tmp_path):
    steps, every = 160, 10
    want = reference(tmp_path, steps)
    root = write_project(tmp_path / "proj", LONG)
    log = tmp_path / "log"
    env = {"LONG_LOG": str(log), "LONG_STEPS": str(steps), "LONG_STEP_SECONDS": "1"}
    site = ["--submit", "slurm", "--account", "root", "--profile", str(profile(tmp_path, every))]
    started = time.time()
    proc = run_cli("long", "-p", "one", *site, "--time", "2", cwd=root, env=env)
    ids = submitted_ids(proc.stdout)
    assert outside_slurm(root) == []  # submit and exit: nothing of ours stays on this host
    pushed = wait_pushing(ids, timeout=480)
    took = time.time() - started

    assert cache_value(root) == want
    runs = attempts(log)
    assert len(runs) >= 2 and len(pushed) >= 1, (runs, pushed)
    assert all(r["from"] > 0 for r in runs[1:])
    assert log.read_text().count(" prepare\n") == 1  # a finished node is not run again
    lost = lost_work(runs)
    assert all(0 <= x <= every + GRACE_S for x in lost), lost
    task = ids[0]
    rows = subprocess.run(["sacct", "-D", "-X", "-n", "-P", "-j", task, "-o", "State,Timelimit"],
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert {r.split("|")[1] for r in rows} == {"00:02:00"}  # requeued, never doubled
    assert sum(r.startswith("REQUEUED") for r in rows) == len(runs) - 1, rows
    status = run_cli("long", "-p", "one", "--status", cwd=root, env=env).stdout
    assert "totals: done 3" in status
    assert "long stages: 1 node(s) checkpointed" in status, status
    assert f"{len(runs)} attempt(s)" in status
    assert status.count("interrupted: time limit near") == len(runs) - 1, status
    assert "finished" in status
    assert not (root / "data" / "cache" / "checkpoints").exists()
    assert outside_slurm(root) == []
    print(f"\ntime limit: {steps} s of work under a 2-minute limit finished in {took:.0f} s "
          f"after {len(runs) - 1} requeue(s); attempts did {[len(r['steps']) for r in runs]} "
          f"steps; lost work per interruption {lost} s (bound {every} + {GRACE_S} s)")  # fmt: skip


def wait_idle(timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while squeue("-t", "RUNNING,COMPLETING").strip() and time.time() < deadline:
        time.sleep(2)


def test_a_preempted_checkpointing_task_resumes_and_finishes(slurm, tmp_path):
    steps, every = 45, 5
    want = reference(tmp_path, steps)
    root = write_project(tmp_path / "proj", LONG)
    log = tmp_path / "log"
    env = {"LONG_LOG": str(log), "LONG_STEPS": str(steps), "LONG_STEP_SECONDS": "1"}
    site = ["--submit", "slurm", "--account", "root", "--partition", "low",
            "--profile", str(profile(tmp_path, every))]  # fmt: skip
    wait_idle()  # the high job fills the node: this test runs alone
    proc = run_cli("long", "-p", "one", *site, "--time", "10", cwd=root, env=env)
    ids = submitted_ids(proc.stdout)
    deadline = time.time() + 180
    while not (log.exists() and " step 12\n" in log.read_text()):
        assert time.time() < deadline, squeue()
        time.sleep(0.5)
    high = subprocess.run(["sbatch", "--parsable", "-p", "high", "-c", "4", "--time", "1",
                           "-o", "/dev/null", "--wrap", "sleep 5"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    wait_pushing([*ids, high], timeout=300)

    assert cache_value(root) == want
    assert sacct_states([high])[high] == "COMPLETED"
    runs = attempts(log)
    assert len(runs) == 2 and runs[1]["from"] >= 12, runs
    lost = lost_work(runs)
    assert all(0 <= x <= every + 10 for x in lost), lost  # GraceTime=10 on the low partition
    journal = json.loads(next((root / ".cfcompile" / "long" / "attempts").glob("train_*.json"))
                         .read_text())  # fmt: skip
    assert [a["ended"] for a in journal["attempts"]] == ["interrupted: preempted", "finished"]
    status = run_cli("long", "-p", "one", "--status", cwd=root, env=env).stdout
    assert "interrupted: preempted" in status and "totals: done 3" in status, status
    print(f"\npreemption: resumed from step {runs[1]['from']} after {max(runs[0]['steps'])}; "
          f"lost work {lost} s (bound {every} + 10 s)")  # fmt: skip
