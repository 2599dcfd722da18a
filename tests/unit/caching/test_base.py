"""The cacher protocol (``caching.base``): curifactory's paths, metadata beside each output,
templates and prefixes, ``Lazy`` outputs, transactional saves."""

from __future__ import annotations

import os

import cfcompile as cf
from cfcompile.caching import (
    JsonCacher,
    Lazy,
    PickleCacher,
    base,
    files,
)


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


def manager(tmp_path):
    return cf.ArtifactManager("c", cache_path=str(tmp_path / "cache"))


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
