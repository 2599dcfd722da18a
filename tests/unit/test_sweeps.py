"""Grids, random search, repetitions and their mean and spread (``cfcompile.sweeps``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

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
