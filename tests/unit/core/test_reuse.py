"""Reuse's one decision (``core.reuse.decide``): the classes a node may share its computation
in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import cfcompile as cf
from cfcompile.core import reuse

from .sample_params import Data, P, stage_spec

ON = reuse.Settings(reuse=True, learned=False)


def test_classes_follow_the_declared_values_the_class_the_inputs_and_the_code():
    spec = stage_spec(uses=["seed", "data.path"])
    a, b = P(name="a", lr=0.1), P(name="b", lr=0.2)
    key = reuse.decide(spec, a, {}, ON).key
    assert key is not None and key == reuse.decide(spec, b, {}, ON).key  # lr is not used
    assert key != reuse.decide(spec, P(name="c", seed=2), {}, ON).key  # a used value
    assert key != reuse.decide(spec, P(name="d", data=Data(path="y")), {}, ON).key

    class Sub(P):
        pass

    assert key != reuse.decide(spec, Sub(name="e"), {}, ON).key  # the parameter class
    other = stage_spec(uses=["seed", "data.path"], cachers=[cf.caching.PickleCacher])
    assert key != reuse.decide(other, a, {}, ON).key  # another stage
    assert reuse.decide(spec, a, {"d": "k1"}, ON) != reuse.decide(spec, a, {"d": "k2"}, ON)
    assert reuse.decide(spec, a, {"d": None}, ON).mode is reuse.Mode.NONE  # producer unmerged
    assert reuse.decide(spec, a, None, ON).mode is reuse.Mode.NONE  # a value handed over
    assert reuse.decide(stage_spec(uses=["seed"], reuse=False), a, {}, ON).key is None
    assert reuse.decide(stage_spec(), a, {}, ON).key is None  # nothing declared, no --reuse
    assert reuse.decide(stage_spec(), a, {}, reuse.Settings(True, True)).mode is reuse.Mode.LEARNED
    assert reuse.decide(spec, a, {}, reuse.Settings(False, False)).key is None  # --no-reuse
    with pytest.raises(reuse.UnknownParameterError, match=r"'data.size'"):
        reuse.decide(stage_spec(uses=["data.size"]), a, {}, ON)


def test_a_declared_value_without_a_faithful_encoding_says_why_it_is_never_merged():
    @dataclass
    class Q(cf.ExperimentParameters):
        opt: object = None

    class Opt:
        def __repr__(self):
            return "Opt()"

    decision = reuse.decide(stage_spec(uses=["opt"]), Q(name="q", opt=Opt()), {}, ON)
    assert decision.mode is reuse.Mode.NONE
    assert "record.params.opt" in decision.why and "Opt" in decision.why


def test_eager_values_passed_in_the_call_are_never_merged(tmp_path):
    from cfcompile.caching import JsonCacher

    calls = []

    @cf.stage(outputs=["x"], cachers=[JsonCacher], uses=["seed"])
    def scaled(record, factor):
        calls.append(factor)
        return record.params.seed * factor

    manager = cf.ArtifactManager("t", cache_path=str(tmp_path))
    scaled(cf.Record(manager, P(name="a", seed=1)), 2)
    scaled(cf.Record(manager, P(name="b", seed=1, lr=0.5)), 3)
    assert calls == [2, 3]  # equal declared fields, different values in the call
