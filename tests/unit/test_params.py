"""``ExperimentParameters`` (``cfcompile.params``): how a set pickles with its hash functions."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

import cfcompile as cf
from cfcompile import params


@dataclass
class WithFunctions(cf.ExperimentParameters):
    scale: float = 1.0
    hash_representations: dict = cf.set_hash_functions(scale=lambda self, v: round(v, 2))


def test_a_set_pickles_without_its_class_lambdas_and_gets_them_back():
    p = WithFunctions(name="a", scale=1.234)
    state = p.__getstate__()
    assert "hash_representations" not in state  # the class's own lambdas stay behind
    back = pickle.loads(pickle.dumps(p))
    assert back.hash_representations.keys() == {"scale"}
    assert back.params_hash() == p.params_hash()
    assert params.class_hash_representations(WithFunctions).keys() == {"scale"}


def test_hash_functions_set_on_one_instance_must_pickle():
    p = WithFunctions(name="b")
    p.hash_representations = {"scale": lambda self, v: v}  # not the class's own
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(p)
