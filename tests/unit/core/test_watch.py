"""The watch itself (``core.watch``): the parameter object's class swapped during a stage
call for one that notes reads, and put back."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass

import pytest

from cfcompile.core.reads import EVERYTHING, UndeclaredParameterError
from cfcompile.core.watch import watching

from .sample_params import Data, P


@dataclass(frozen=True)
class Frozen:
    a: int = 1
    b: int = 2


def test_field_reads_are_noted_by_path_and_the_object_is_left_as_it_was():
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        assert isinstance(p, P) and p.__class__ is P
        _ = p.seed, p.data.path
    # reaching the nested object reads its class, and its fields are noted one by one
    assert reads.summary() == ["data.__class__", "data.path", "seed"]
    assert type(p) is P and type(p.data) is Data  # restored: nothing outlives the call


@pytest.mark.parametrize(
    "use",
    [
        dataclasses.asdict,
        vars,
        pickle.dumps,
        copy.copy,
        copy.deepcopy,
    ],
)
def test_a_use_that_sees_every_field_counts_as_reading_everything(use):
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        result = use(p)
    assert reads.summary() == [EVERYTHING]
    if use in (copy.copy, copy.deepcopy):
        assert type(result) is P  # a copy is of the researcher's own class
    if use is pickle.dumps:
        assert type(pickle.loads(result)) is P


def test_repr_and_equality_read_each_field():
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        repr(p)
    assert {"seed", "lr", "data.path", "data.rows", "name"} <= set(reads.summary())


def test_an_object_made_from_the_watched_class_pickles_as_the_researchers():
    p = P(name="a")
    with watching(p, "s", "a", None):
        made = type(p)(name="b")
    assert type(pickle.loads(pickle.dumps(made))) is P
    assert type(copy.deepcopy(made)) is P


def test_frozen_parameter_sets_are_watched_too():
    f = Frozen()
    with watching(f, "s", "a", None) as reads:
        _ = f.b
    assert reads.summary() == ["b"] and type(f) is Frozen


def test_a_stage_called_inside_another_has_its_own_watch():
    p = P(name="a")
    with watching(p, "outer", "a", None) as outer:
        _ = p.seed  # the outer reads seed first
        with pytest.raises(
            UndeclaredParameterError, match=r"'inner' \[a\] read record.params.seed"
        ):
            with watching(p, "inner", "a", ["lr"]):
                _ = p.seed  # noted afresh for the inner call, and checked
        with watching(p, "inner2", "a", None) as inner:
            _ = p.lr
        _ = p.data.rows  # the outer's reads after an inner call are still noted
    assert inner.summary() == ["lr"]
    assert outer.summary() == ["data.__class__", "data.rows", "seed"]
    assert type(p) is P and type(p.data) is Data
