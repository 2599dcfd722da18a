"""Cachers on real files: pandas formats, file references, path templates, Lazy(resolve=False)."""

from __future__ import annotations

import json
import os

import pytest

import cfcompile as cf
from cfcompile.caching import (
    FileReferenceCacher,
    JsonCacher,
    Lazy,
    PandasCsvCacher,
    PandasJsonCacher,
    PickleCacher,
)


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


def test_path_override_template_and_prefix(tmp_path):
    @cf.stage(
        outputs=["a", "b"],
        cachers=[
            JsonCacher(path_override="{cache}/custom_{hash}_{name}.json"),
            PickleCacher(prefix="shared"),
        ],
    )
    def two(record):
        return 1, 2

    rec = two(cf.Record(manager(tmp_path), cf.ExperimentParameters(name="p")))
    h = rec.get_hash()
    assert (tmp_path / "cache" / f"custom_{h}_a.json").exists()
    assert (tmp_path / "cache" / f"shared_{h}_two_b.pkl").exists()


def test_lazy_resolve_false_hands_the_lazy_to_the_next_stage(tmp_path):
    seen = {}

    @cf.stage(outputs=[Lazy("big", resolve=False)], cachers=[PickleCacher])
    def make(record):
        return list(range(5))

    @cf.stage(inputs=["big"], outputs=["n"])
    def use(record, big):
        seen["type"] = type(big)
        return len(big.load())

    rec = use(make(cf.Record(manager(tmp_path), cf.ExperimentParameters(name="p"))))
    assert seen["type"] is Lazy and rec.state["n"] == 5


def test_staging_folder_is_removed_after_publish(tmp_path):
    @cf.stage(outputs=["a"], cachers=[JsonCacher])
    def one(record):
        return {"v": 1}

    one(cf.Record(manager(tmp_path), cf.ExperimentParameters(name="p")))
    names = os.listdir(tmp_path / "cache")
    assert not [n for n in names if n.startswith(".cfcompile-tmp")]
    assert sorted(n.split("_", 2)[2] for n in names) == ["one_a.json", "one_a_metadata.json"]
