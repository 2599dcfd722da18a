"""Typed GPU requests on the real test cluster (2 fake GPUs of type ``fake``: see
docs/slurm-test-cluster.md). One parameter set's CPU stage and GPU stage get different tasks,
partitions and requests; Slurm itself sets CUDA_VISIBLE_DEVICES in the GPU task; sacct's
AllocTRES counts the GPU; --status shows GPU-hours; a request larger than the node is refused
with Slurm's own words."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, project_files, run_cli, write_project
from test_slurm import submitted_ids, submitted_tasks, wait_for

pytestmark = pytest.mark.slurm

SITE = """account: root
partition: debug
stages:
  train: {partition: high, gpu_model: fake, cpus_per_gpu: 2}
"""


def gpu_project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "proj", project_files("gpus"))
    profile = root / "cluster_profiles" / "slurm"
    profile.mkdir(parents=True)
    (profile / "config.yaml").write_text((REPO / "cluster_profiles/slurm/config.yaml").read_text())
    (profile / "cfcompile.yaml").write_text(SITE)
    return root


def test_gpu_and_cpu_stages_of_one_set_get_their_own_partition_and_request(slurm, tmp_path):
    root = gpu_project(tmp_path)
    env = {"GPU_SLEEP": "0"}
    dry = run_cli("gpus", "-p", "two", "--submit", "slurm", "--dry-run", cwd=root, env=env).stdout
    prep_line = next(ln for ln in dry.splitlines() if "L0-chains" in ln)
    train_line = next(ln for ln in dry.splitlines() if "L1-chains" in ln)
    assert "--cpus-per-task=1" in prep_line and "--partition=debug" in prep_line
    assert "--gpus" not in prep_line
    for word in ("--gpus=fake:1", "--cpus-per-gpu=2", "--partition=high", "aftercorr:#0"):
        assert word in train_line, train_line
    assert "--cpus-per-task" not in train_line  # sbatch refuses it beside --cpus-per-gpu
    assert "GPU-hours asked (GPUs x each task's time limit, per stage): train 1.00" in dry

    proc = run_cli("gpus", "-p", "two", "--submit", "slurm", cwd=root, env=env)
    ids = submitted_ids(proc.stdout)
    states = wait_for(ids, tasks=submitted_tasks(proc.stdout), timeout=180)
    assert set(states.values()) == {"COMPLETED"}, states
    cache = root / "data" / "cache"
    trained = [json.loads(p.read_text()) for p in cache.glob("*_train_trained.json")]
    prepared = [json.loads(p.read_text()) for p in cache.glob("*_prep_prepared.json")]
    assert len(trained) == 2 and {t["cvd"] for t in trained} <= {"0", "1"}  # Slurm's choice
    assert [p["cvd"] for p in prepared] == ["", ""]  # a CPU stage of a GPU experiment: none
    sacct = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", ",".join(ids[:2]), "-o", "JobName,Partition,AllocTRES"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {line.split("|")[0]: line.split("|") for line in sacct.splitlines()}
    prep, train = rows["cf-gpus-L0-chains"], rows["cf-gpus-L1-chains"]
    assert prep[1] == "debug" and "gres/gpu" not in prep[2]
    assert train[1] == "high" and "gres/gpu=1" in train[2] and "cpu=2" in train[2], train
    status = run_cli("gpus", "-p", "two", "--status", cwd=root).stdout
    assert "GPU-h asked" in status and "GPU-h used" in status, status
    usage = status[status.index("Slurm usage per stage") :]
    row = next(ln.split() for ln in usage.splitlines() if ln.startswith("train "))
    assert row[-2] == "1.000" and float(row[-1]) >= 0  # 1 GPU x 60 min asked


def test_more_gpus_than_the_node_has_is_refused_with_slurms_words(slurm, tmp_path):
    root = gpu_project(tmp_path)
    proc = run_cli("gpus", "-p", "two", "--submit", "slurm", "--gpus", "3", cwd=root, check=False)
    assert proc.returncode != 0
    assert "Requested node configuration is not available" in proc.stderr, proc.stderr
