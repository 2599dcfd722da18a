"""The DataFrame cachers on real files (``caching.pandas``)."""

from __future__ import annotations

import json
import math

import pytest

import cfcompile as cf
from cfcompile.caching import (
    PandasCsvCacher,
    PandasJsonCacher,
    pandas,
)


def test_pandas_cachers_round_trip_frames(record):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, math.pi]})
    for fmt in ("csv", "parquet", "pickle"):
        cacher = pandas.PandasCacher(name=f"df_{fmt}", format=fmt, record=record)
        cacher.stage = "make"
        cacher.save(frame)
        back = cacher.load()
        assert list(back.columns) == ["a", "b"] and back["a"].tolist() == [1, 2], fmt


def manager(tmp_path):
    return cf.ArtifactManager("c", cache_path=str(tmp_path / "cache"))


def test_pandas_cachers_round_trip_with_metadata(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]}, index=["x", "y"])

    @cf.stage(outputs=["csv", "js"], cachers=[PandasCsvCacher, PandasJsonCacher])
    def frames(record):
        return frame, frame

    m = manager(tmp_path)
    frames(cf.Record(m, cf.ExperimentParameters(name="p")))
    again = frames(
        cf.Record(
            cf.ArtifactManager("c", cache_path=m.cache_path), cf.ExperimentParameters(name="p")
        )
    )
    pd.testing.assert_frame_equal(again.state["csv"], frame)
    pd.testing.assert_frame_equal(again.state["js"], frame)
    meta_path = next((tmp_path / "cache").glob("c_*_frames_csv_metadata.json"))
    meta = json.loads(meta_path.read_text())
    assert meta["extra"]["format"] == "csv" and meta["extra"]["pandas_version"] == pd.__version__
    assert meta["artifact_name"] == "csv" and meta["params_name"] == "p"
