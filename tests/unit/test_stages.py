"""``@stage`` and ``@aggregate`` (``cfcompile.stages``): what is checked at decoration and what
when the stage is called."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import cfcompile as cf
from cfcompile import stages
from cfcompile.caching import JsonCacher
from cfcompile.errors import CachersMismatchError, StageDefinitionError


@dataclass
class WithFunctions(cf.ExperimentParameters):
    scale: float = 1.0
    hash_representations: dict = cf.set_hash_functions(scale=lambda self, v: round(v, 2))


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


def _spec(**kw):
    @cf.stage(outputs=["x"], **kw)
    def prep(record):
        return 1

    return prep.spec


def test_uses_must_be_a_list_of_names():
    with pytest.raises(StageDefinitionError, match="uses= takes a list of field names"):
        _spec(uses="seed")
