"""Local GPU slots through the README's pipe and ``--run``, on a pool of fake devices handed
over in CUDA_VISIBLE_DEVICES (no GPU is needed: the devices are names; what is checked is who
was given which name, and when). Each stage records the CUDA_VISIBLE_DEVICES it saw and when
it ran; the checks read those records (``runtime/gpu_slots.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import pipe, project_files, run_cli, write_project

GPUS = project_files("gpus")


def records(root: Path, pattern: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "data" / "cache").glob(pattern))]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, step in events:  # an end sorts before a start at the same instant
        now += step
        peak = max(peak, now)
    return peak


def check_slots(trained: list[dict], devices: set[str], n: int) -> None:
    assert len(trained) == n, trained
    for t in trained:
        assert t["cvd"] in devices, t  # one device of the pool, not the pool, not none
    for device in devices:
        mine = sorted((t["start"], t["end"]) for t in trained if t["cvd"] == device)
        for (_, end), (start, _) in zip(mine, mine[1:], strict=False):
            assert start >= end, (device, mine)  # never two jobs on one device
    assert most_at_once([(t["start"], t["end"]) for t in trained]) == len(devices)


def test_eight_one_gpu_sets_on_two_fake_devices_through_the_pipe(tmp_path):
    root = write_project(tmp_path / "proj", GPUS)
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "GPU_SLEEP": "1"}
    proc = pipe(root, "gpus", "-p", "eight", cores="4", snakemake_args=("-k",), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_slots(records(root, "*_train_trained.json"), {"0", "1"}, 8)
    prepared = records(root, "*_prep_prepared.json")
    assert len(prepared) == 8 and {p["cvd"] for p in prepared} == {""}  # no device for a CPU stage
    # an experiment that declares no GPU sees the machine as it is
    proc = pipe(root, "nogpu", "-p", "eight", cores="2", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [p["cvd"] for p in records(root, "*_plain_plain.json")] == ["0,1", "0,1"]


def test_run_route_shares_the_same_slots(tmp_path):
    root = write_project(tmp_path / "proj", GPUS)
    env = {"CUDA_VISIBLE_DEVICES": "4,7", "GPU_SLEEP": "0.5"}
    run_cli("gpus", "-p", "eight", "--run", "--cores", "3", cwd=root, env=env)
    check_slots(records(root, "*_train_trained.json"), {"4", "7"}, 8)


def test_a_gpu_stage_on_a_machine_without_gpus_fails_and_says_why(tmp_path):
    root = write_project(tmp_path / "proj", GPUS)
    env = {"CUDA_VISIBLE_DEVICES": "", "GPU_SLEEP": "0"}
    proc = run_cli("gpus", "-p", "eight", "--run", "--cores", "2", cwd=root, env=env, check=False)
    assert proc.returncode != 0
    assert "ask(s) for GPUs and this machine shows none" in proc.stderr, proc.stderr
    assert not records(root, "*_train_trained.json")  # never ran on the CPU instead
    assert records(root, "*_prep_prepared.json")  # the CPU stage ran
    status = run_cli("gpus", "-p", "eight", "--status", cwd=root, env=env, check=False)
    assert "asks for 1 GPU(s) (resources gpu=1) and this machine has none" in status.stdout, (
        status.stdout
    )


def a_shared_library() -> str:
    """The path of a shared library this process has mapped (zlib's), to copy as libcuda."""
    import zlib  # noqa: F401 - maps libz

    for line in Path("/proc/self/maps").read_text().splitlines():
        if "/libz.so" in line:
            return line.split()[-1]
    return ""


def test_a_project_whose_import_loads_cuda_gets_no_warm_worker(tmp_path):
    root = write_project(tmp_path / "proj", GPUS)
    source = a_shared_library()
    assert source, "no libz mapped in this process"
    fake = tmp_path / "libcuda.so.1"
    fake.write_bytes(Path(source).read_bytes())
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "FAKE_LIBCUDA": str(fake)}
    proc = pipe(root, "cudaimport", "-p", "eight", cores="2", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the compile does not fork workers: importing the project initialised CUDA" in (
        proc.stderr
    ), proc.stderr
    worker_log = (root / ".cfcompile" / "cudaimport" / "logs" / "worker.log").read_text()
    assert "initialised CUDA" in worker_log  # the worker a job started declined too
    ran = records(root, "*_ran_ran.json")
    assert len(ran) == 2 and {r["cvd"] for r in ran} <= {"0", "1"}  # in process, own slots
