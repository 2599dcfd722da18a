"""A long stage on this machine: Ctrl-C in the middle of it, run again, and it resumes from its
checkpoint (the README's pipe and --eager), with the value an uninterrupted run gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SNAKEMAKE, project_files, run_cli, write_project

LONG = project_files("longstage")
FAST = {"LONG_STEP_SECONDS": "0.2", "LONG_STEPS": "25", "CFCOMPILE_CHECKPOINT_EVERY_SECONDS": "0.5"}


def reference(tmp_path: Path) -> float:
    """The uninterrupted --eager run's value (no sleep: the same arithmetic)."""
    root = write_project(tmp_path / "ref", LONG)
    run_cli("long", "-p", "one", "--eager", cwd=root, env={**FAST, "LONG_STEP_SECONDS": "0"})
    return json.loads(next((root / "data" / "cache").glob("*_score_score.json")).read_text())


def steps(log: Path) -> list[tuple[int, str]]:
    """(pid, what) per logged line."""
    out = []
    for line in log.read_text().splitlines():
        _, _, pid, what = line.split(" ", 3)
        out.append((int(pid), what))
    return out


def ctrl_c_after(cmd: str, root: Path, env: dict, log: Path, after_step: int) -> int:
    """Start ``cmd`` in a process group of its own, send the group SIGINT (what Ctrl-C in a
    terminal does) once the stage logged ``after_step``; returns the exit status."""
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=root, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        if log.exists() and f"step {after_step}" in log.read_text():
            break
        if proc.poll() is not None:  # it ended (failed) before the stage got there
            raise AssertionError(f"ended before step {after_step}: {proc.stdout.read()}")
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError(f"the stage never reached step {after_step}: {proc.stdout.read()}")
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode


def check_resumed(root: Path, log: Path, stopped_at: int, want: float) -> None:
    lines = steps(log)
    starts = [what for _, what in lines if what.startswith("train from")]
    assert len(starts) == 2, lines
    resumed = int(starts[1].split()[-1])
    # lost: at most the save interval (0.5 s = 2-3 steps), usually nothing (Ctrl-C writes
    # the last state handed over)
    assert stopped_at - 3 <= resumed, (stopped_at, resumed)
    assert resumed > 0
    assert sum(1 for _, what in lines if what == "prepare") == 1  # finished nodes are kept
    got = json.loads(next((root / "data" / "cache").glob("*_score_score.json")).read_text())
    assert got == want
    assert not (root / "data" / "cache" / "checkpoints").exists()  # removed once published


def test_ctrl_c_in_an_eager_run_then_run_again_resumes(tmp_path):
    want = reference(tmp_path)
    root = write_project(tmp_path / "proj", LONG)
    log = tmp_path / "log"
    env = {**FAST, "LONG_LOG": str(log)}
    cmd = f"{sys.executable} -m cfcompile.cli long -p one --eager"
    code = ctrl_c_after(cmd, root, env, log, 8)
    assert code != 0
    stopped = max(int(w.split()[1]) for _, w in steps(log) if w.startswith("step"))
    assert list((root / "data" / "cache" / "checkpoints").iterdir())
    plan = run_cli("long", "-p", "one", "--dry-run", cwd=root, env=env).stdout
    assert "long stage train: 1 node(s) resume from a checkpoint" in plan, plan
    run_cli("long", "-p", "one", "--eager", cwd=root, env=env)
    check_resumed(root, log, stopped, want)
    plan = run_cli("long", "-p", "one", "--dry-run", cwd=root, env=env).stdout
    assert "long stage train: seen to checkpoint in earlier runs (metadata)" in plan, plan


def test_ctrl_c_in_the_readme_pipe_then_run_again_resumes(tmp_path):
    want = reference(tmp_path)
    root = write_project(tmp_path / "proj", LONG)
    log = tmp_path / "log"
    env = {**FAST, "LONG_LOG": str(log)}
    cmd = (f"set -o pipefail; {sys.executable} -m cfcompile.cli long -p one | "
           f"{' '.join(SNAKEMAKE)} -s /dev/stdin --cores 1")  # fmt: skip
    code = ctrl_c_after(cmd, root, env, log, 8)
    assert code != 0
    stopped = max(int(w.split()[1]) for _, w in steps(log) if w.startswith("step"))
    again = subprocess.run(["bash", "-c", cmd], cwd=root, env={**os.environ, **env},
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    check_resumed(root, log, stopped, want)
    status = run_cli("long", "-p", "one", "--status", cwd=root, env=env).stdout
    assert "long stages: 1 node(s) checkpointed" in status, status
    # Snakemake turns Ctrl-C into SIGTERM for its jobs: the job wrote the last state and ended
    assert "attempt 1: terminated (SIGTERM" in status, status
    assert "attempt 2: finished" in status, status


@pytest.mark.parametrize("edit", ["helper", "stage"])
def test_an_edited_helper_keeps_the_checkpoint_an_edited_stage_starts_over(tmp_path, edit):
    root = write_project(tmp_path / "proj", LONG)
    log = tmp_path / "log"
    env = {**FAST, "LONG_LOG": str(log)}
    cmd = f"{sys.executable} -m cfcompile.cli long -p one --eager"
    ctrl_c_after(cmd, root, env, log, 8)
    source = root / "experiments" / "long.py"
    text = source.read_text()
    if edit == "helper":
        text = text.replace('"""A helper: editing', '"""A helper (edited): editing')
    else:
        text = text.replace("step_s = float(", "step_s = 0 + float(")
    source.write_text(text)
    proc = run_cli("long", "-p", "one", "--eager", cwd=root, env=env)
    starts = [w for _, w in steps(log) if w.startswith("train from")]
    if edit == "helper":
        assert starts[1] != "train from 0"
    else:
        assert starts[1] == "train from 0"
        assert "its source changed since its checkpoint was saved" in proc.stderr
