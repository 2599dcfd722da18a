"""Hash representations that would betray a parameter set, named before anything runs
(``project.representations``): an address, a set's order, a lambda, a summarised array."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import cfcompile as cf
from cfcompile.project import representations
from cfcompile.project.representations import (
    ADDRESS,
    LAMBDA,
    LOSSY,
    RAISED,
    SET_ORDER,
    representation_problems,
    unstable_fields,
)


class Opaque:
    """No __repr__ of its own: ``<...Opaque object at 0x7f...>``, another in every process."""


@dataclass
class Inner:
    model: object = None


@dataclass
class P(cf.ExperimentParameters):
    lr: float = 0.1
    model: object = None
    tags: object = None
    fn: object = None
    values: object = None
    inner: Inner = field(default_factory=Inner)


def kinds(param_set) -> dict[str, str]:
    return {p.field: p.kind for p in representation_problems(param_set)}


def test_plain_values_have_no_problem():
    assert representation_problems(P(name="ok", tags=(1, 2), values=[1.5, 2])) == []


def test_each_betrayal_is_named_with_its_field_and_the_class_to_fix():
    found = representation_problems(
        P(name="bad", model=Opaque(), tags={"b", "a"}, fn=lambda x: x, inner=Inner(Opaque()))
    )
    assert {p.field: p.kind for p in found} == {
        "model": ADDRESS,
        "tags": SET_ORDER,  # strings hash with PYTHONHASHSEED: the repr's order changes
        "fn": LAMBDA,
        "inner.model": ADDRESS,
    }
    inner = next(p for p in found if p.field == "inner.model")
    assert (inner.key, inner.owner) == ("model", "Inner")  # set_hash_functions goes there
    assert "fn" not in {p.field for p in unstable_fields(P(name="l", fn=lambda x: x))}
    assert kinds(P(name="ints", tags={3, 1, 2})) == {}  # small ints hash alike everywhere


def test_numpy_arrays_that_repr_summarises_or_rounds_are_lossy():
    assert kinds(P(name="big", values=np.arange(2000.0))) == {"values": LOSSY}
    assert (
        "2,000 values" in representation_problems(P(name="b", values=np.arange(2000.0)))[0].detail
    )
    assert kinds(P(name="fine", values=np.array([0.123456789123]))) == {"values": LOSSY}
    assert kinds(P(name="small", values=np.array([0.5, 1.0]))) == {}
    assert representations.lossy([1, {"x": np.arange(2000)}]) is not None  # found inside
    assert representations.lossy(3) is None


def test_a_hash_function_fixes_a_field_and_one_that_raises_is_named():
    @dataclass
    class Fixed(cf.ExperimentParameters):
        model: object = None
        hash_representations: dict = cf.set_hash_functions(model=lambda p, v: "opaque-v1")

    assert representation_problems(Fixed(name="f", model=Opaque())) == []

    @dataclass
    class Broken(cf.ExperimentParameters):
        model: object = None
        hash_representations: dict = cf.set_hash_functions(model=lambda p, v: 1 / 0)

    (problem,) = representation_problems(Broken(name="b", model=1))
    assert problem.kind == RAISED and "ZeroDivisionError" in problem.detail
