"""One stage call, top to bottom (``core.execute``): run, then served from the cache; a dry
run; the inputs gathered, an aggregate's included."""

from __future__ import annotations

import json

import pytest

import cfcompile as cf
from cfcompile.caching import JsonCacher, Lazy, PickleCacher
from cfcompile.core import execute
from cfcompile.errors import StageInputError


@cf.stage(outputs=["a", Lazy("big")], cachers=[JsonCacher, PickleCacher])
def make(record):
    return record.params.name.upper(), list(range(3))


def test_run_stage_runs_then_serves_from_the_cache(manager, tmp_path):
    p = cf.ExperimentParameters(name="p")
    first = cf.Record(manager, p)
    assert execute.run_stage(make.spec, first, None, (), {}) is execute.Outcome.RAN
    assert first.state["a"] == "P" and isinstance(first.state.raw("big"), Lazy)
    again = cf.Record(manager, p)
    assert execute.run_stage(make.spec, again, None, (), {}) is execute.Outcome.CACHED
    assert again.state["big"] == [0, 1, 2]  # a Lazy output is loaded on access
    (meta_path,) = (tmp_path / "cache").glob(f"exp_{p.hash}_make_a_metadata.json")
    meta = json.loads(meta_path.read_text())
    assert meta["stage"] == "make" and meta["timing"]["seconds"] >= 0 and meta["stage_code"]


def test_a_dry_run_writes_nothing_and_keeps_values_in_memory(manager, tmp_path):
    record = cf.Record(manager, cf.ExperimentParameters(name="q"))
    assert execute.run_stage(make.spec, record, None, (), {}, save=False) is execute.Outcome.RAN
    assert record.state.raw("big") == [0, 1, 2]  # not Lazy: there is no file to load it from
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_gather_inputs_names_a_missing_input(manager):
    @cf.stage(inputs=["a"], outputs=["b"])
    def needs_a(record, a):
        return a

    with pytest.raises(StageInputError, match="input 'a' is not in the record's state"):
        execute.gather_inputs(needs_a.spec, cf.Record(manager, None), None, {})


def test_aggregate_none_takes_every_other_record_and_warns_on_missing(tmp_path, caplog):
    import cfcompile as cf

    @cf.stage(outputs=["v"])
    def give(record):
        return record.params.name

    seen = {}

    @cf.aggregate(inputs=["v"], outputs=["names"])
    def collect(record, records, v):
        seen["records"] = [r.params.name if r.params else None for r in records]
        return sorted(v.values())

    manager = cf.ArtifactManager("agg", cache_path=str(tmp_path))
    for name in ("a", "b"):
        give(cf.Record(manager, cf.ExperimentParameters(name=name)))
    cf.Record(manager, cf.ExperimentParameters(name="no_v"))
    agg = collect(cf.Record(manager, None))
    assert agg.state["names"] == ["a", "b"]
    assert seen["records"] == ["a", "b", "no_v"]
    assert "no artifact 'v'" in caplog.text
    assert agg.is_aggregate and len(agg.get_hash()) == 32


def test_an_input_holding_the_parameters_arrives_as_a_copy():
    """As from a compiled run's cache: reading such an input is no read of record.params."""
    from dataclasses import dataclass

    from cfcompile.core.execute import resolve_inputs

    @dataclass
    class Q(cf.ExperimentParameters):
        x: int = 1

    @cf.stage(inputs=["boxed"], outputs=["y"])
    def consume(record, boxed):
        return boxed

    q = Q(name="q")

    class Box:
        def __init__(self, held):
            self.held = held

    box, plain = Box(q), {"a": [1, 2]}
    got = resolve_inputs(consume.spec, {"boxed": box}, q)
    assert got["boxed"] is not box and got["boxed"].held == q and got["boxed"].held is not q
    assert resolve_inputs(consume.spec, {"boxed": plain}, q)["boxed"] is plain
