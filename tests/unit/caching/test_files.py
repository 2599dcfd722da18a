"""The one-file cachers on real files (``caching.files``): JSON, file references, PathRef."""

from __future__ import annotations

import pytest

import cfcompile as cf
from cfcompile.caching import (
    FileReferenceCacher,
    files,
)


def test_json_cacher_refuses_a_value_it_would_change(record):
    cacher = files.JsonCacher(name="bad", record=record)
    cacher.stage = "make"
    with pytest.raises(files.CacheRoundTripError, match="PickleCacher"):
        cacher.save({1: "int key"})
    with pytest.raises(files.CacheRoundTripError):
        cacher.save({"tags": {"a", "b"}})


def test_path_ref_checks_the_path_the_stage_wrote(record, tmp_path):
    ref = files.PathRef(name="file", record=record)
    ref.stage = "make"
    expected = ref.final_path()
    assert ref.save(expected) == expected
    with pytest.raises(AssertionError, match="unexpected path"):
        ref.save(str(tmp_path / "other"))


def manager(tmp_path):
    return cf.ArtifactManager("c", cache_path=str(tmp_path / "cache"))


def test_file_reference_cache_is_invalid_when_a_referenced_file_is_gone(tmp_path):
    target = tmp_path / "made.txt"
    calls = []

    @cf.stage(outputs=["files"], cachers=[FileReferenceCacher])
    def make(record):
        calls.append(1)
        target.write_text("x")
        return [str(target)]

    def run_once():
        make(cf.Record(manager(tmp_path), cf.ExperimentParameters(name="p")))

    run_once()
    run_once()
    assert len(calls) == 1
    target.unlink()
    run_once()
    assert len(calls) == 2 and target.exists()
