"""A stage's outputs (``core.outputs``): which cacher saves each, the returned value split."""

from __future__ import annotations

import pytest

import cfcompile as cf
from cfcompile.caching import JsonCacher, Lazy, PickleCacher
from cfcompile.core import outputs
from cfcompile.errors import OutputSignatureError


@cf.stage(outputs=["a", Lazy("big")], cachers=[JsonCacher, PickleCacher])
def make(record):
    return record.params.name.upper(), list(range(3))


@cf.aggregate(inputs=["a"], outputs=["joined"], cachers=[JsonCacher(name="custom")])
def join(record, records, a):
    return sorted(a.values())


def test_output_cachers_follow_curifactorys_naming_rules(manager):
    record = cf.Record(manager, cf.ExperimentParameters(name="p"))
    names = [c.name for c in outputs.output_cachers(make.spec, record)]
    assert names == ["a", "big"]  # a stage names every cacher after its output
    agg = cf.Record(manager, None)
    assert outputs.output_cacher(join.spec, agg, 0).name == "custom"  # an aggregate keeps it
    plain = cf.stage(outputs=["x"])(lambda record: 1)
    assert isinstance(outputs.output_cachers(plain.spec, record)[0], PickleCacher)
    assert outputs.declared_cachers(plain.spec, record) is None  # eager: not cached


def test_split_outputs_refuses_a_wrong_count_naming_the_set():
    with pytest.raises(OutputSignatureError, match="parameter set 'p'.*returned 1 value"):
        outputs.split_outputs(make.spec, "only one", "p")
    assert outputs.split_outputs(make.spec, ("A", [1]), "p") == ("A", [1])
