"""The caching package's modules on real files: the base path rules, the one-file cachers,
the DataFrame cachers and the JSON round-trip check."""

from __future__ import annotations

import json
import math

import pytest

import cfcompile as cf
from cfcompile.caching import base, files, pandas, roundtrip


@pytest.fixture
def record(tmp_path):
    manager = cf.ArtifactManager("exp", cache_path=str(tmp_path / "cache"), folders=False)
    manager.current_stage_name = "make"
    return cf.Record(manager, cf.ExperimentParameters(name="p"))


def test_a_cacher_path_is_curifactorys_name_and_metadata_sits_beside_it(record, tmp_path):
    cacher = files.JsonCacher(name="out", record=record)
    cacher.stage = "make"
    path = cacher.final_path()
    assert path == str(tmp_path / "cache" / f"exp_{record.get_hash()}_make_out.json")
    assert cacher.metadata_namer()(path) == path[: -len(".json")] + base.METADATA_SUFFIX
    assert not cacher.check()  # nothing there yet
    cacher.save({"x": 1})
    assert not cacher.check()  # a stage's output counts only with its metadata
    cacher.collect_metadata()
    cacher.save_metadata()
    assert cacher.check() and cacher.load() == {"x": 1}


def test_a_subclass_that_moves_its_paths_has_no_metadata_name(record):
    class Elsewhere(files.PickleCacher):
        def final_path(self, suffix=None):
            return "/somewhere/else.pkl"

    assert Elsewhere(name="x", record=record).metadata_namer() is None


def test_json_cacher_refuses_a_value_it_would_change(record):
    cacher = files.JsonCacher(name="bad", record=record)
    cacher.stage = "make"
    with pytest.raises(files.CacheRoundTripError, match="PickleCacher"):
        cacher.save({1: "int key"})
    with pytest.raises(files.CacheRoundTripError):
        cacher.save({"tags": {"a", "b"}})


def test_roundtrip_names_where_a_value_changes():
    assert roundtrip.json_difference({"a": [1, 2.5, "x"]}, {"a": [1, 2.5, "x"]}) is None
    assert roundtrip.json_difference((1, 2), [1, 2]) is None  # tuples come back as lists
    assert roundtrip.json_difference(float("nan"), float("nan")) is None
    where = roundtrip.json_difference({"k": [1, {2}]}, json.loads(json.dumps({"k": [1, "{2}"]})))
    assert where is not None and "k" in where


def test_pandas_cachers_round_trip_frames(record):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, math.pi]})
    for fmt in ("csv", "parquet", "pickle"):
        cacher = pandas.PandasCacher(name=f"df_{fmt}", format=fmt, record=record)
        cacher.stage = "make"
        cacher.save(frame)
        back = cacher.load()
        assert list(back.columns) == ["a", "b"] and back["a"].tolist() == [1, 2], fmt


def test_path_ref_checks_the_path_the_stage_wrote(record, tmp_path):
    ref = files.PathRef(name="file", record=record)
    ref.stage = "make"
    expected = ref.final_path()
    assert ref.save(expected) == expected
    with pytest.raises(AssertionError, match="unexpected path"):
        ref.save(str(tmp_path / "other"))
