"""runtime/gpu_slots: the pool, all-or-nothing slot files held with flock (real files, real
locks: flock conflicts between two open() calls of one process as between processes)."""

from __future__ import annotations

import os

import pytest

from cfcompile.errors import CfcompileError
from cfcompile.runtime import gpu_slots
from cfcompile.runtime.gpu_slots import ProcessGpus, Slots


def test_the_pool_comes_from_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5,GPU-1a2b")
    assert gpu_slots.detect().devices == ["2", "5", "GPU-1a2b"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu_slots.detect().devices == []


def test_slots_are_taken_all_at_once_or_not_at_all(tmp_path):
    slots = Slots(str(tmp_path), ["0", "1"])
    first = slots.try_take(1, "a")
    assert [d for d, _ in first] == ["0"]
    assert slots.try_take(2, "b") is None  # one is free, two are wanted: take none
    second = slots.try_take(1, "c")
    assert [d for d, _ in second] == ["1"]  # the failed try left device 1 free
    assert slots.try_take(1, "d") is None
    gpu_slots.release(first)
    assert [d for d, _ in slots.try_take(1, "e")] == ["0"]
    assert "c pid" in (tmp_path / "gpus" / "1.lock").read_text()


def test_a_process_gives_back_its_device_when_a_cpu_node_follows(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    pool = {"devices": ["0"], "source": "test", "host": os.uname().nodename}
    mine = ProcessGpus(pool, str(tmp_path))
    mine.enter(1, "train")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert Slots(str(tmp_path), ["0"]).try_take(1, "other") is None
    mine.enter(0, "test")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert Slots(str(tmp_path), ["0"]).try_take(1, "other") is not None


def test_no_device_is_refused_with_what_was_looked_at(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    pool = {"devices": [], "source": "CUDA_VISIBLE_DEVICES=''", "host": os.uname().nodename}
    with pytest.raises(gpu_slots.NoDevice, match="has none, found from CUDA_VISIBLE_DEVICES"):
        ProcessGpus(pool, str(tmp_path)).enter(1, "stage train [s0]")
    with pytest.raises(CfcompileError, match="whole devices"):
        gpu_slots.declared_gpus({"gpu": 0.5})


def test_this_process_has_not_initialised_cuda():
    assert gpu_slots.cuda_initialised() is None
