"""The researcher API's small modules: parameter sets, stage declarations, values, release."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from importlib import metadata

import pytest

import cfcompile as cf
from cfcompile import params, release, stages, values
from cfcompile.caching import JsonCacher
from cfcompile.errors import CachersMismatchError, StageDefinitionError


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


def test_is_number_treats_booleans_as_categories():
    assert values.is_number(3) and values.is_number(2.5)
    assert not values.is_number(True) and not values.is_number("3") and not values.is_number(None)
    assert values.all_numbers([1, None, 2.0]) and not values.all_numbers([None])
    assert not values.all_numbers([1, False])


def test_the_release_is_the_installed_distribution_version():
    assert release.__version__ == cf.__version__ == metadata.version("cfcompile")


def test_a_declaration_error_is_raised_when_the_stage_is_called_not_when_it_is_defined():
    @cf.stage(outputs=["a", "b"], cachers=[JsonCacher])  # one cacher for two outputs
    def broken(record):  # decorating succeeds, as in curifactory
        return 1, 2

    assert broken.spec.kind is stages.StageKind.STAGE
    manager = cf.ArtifactManager("t", cache_path="/nonexistent-cache", folders=False)
    with pytest.raises(CachersMismatchError):
        broken(cf.Record(manager, WithFunctions(name="c")))


def test_metrics_must_name_outputs_at_decoration():
    with pytest.raises(StageDefinitionError, match="not outputs"):

        @cf.stage(outputs=["score"], metrics=["accuracy"])
        def scored(record):
            return 1


def test_a_manager_gets_the_registered_engines():
    eager = cf.ArtifactManager("t", cache_path="/tmp/x-cache", folders=False)
    dry = cf.ArtifactManager("t", cache_path="/tmp/x-cache", dry=True, folders=False)
    assert type(eager.engine).__name__ == "EagerEngine"
    assert type(dry.engine).__name__ == "DryEagerEngine"
    assert isinstance(stages.default_engine(dry=True), type(dry.engine))
