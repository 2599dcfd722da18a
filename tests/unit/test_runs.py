"""A live manager's run bookkeeping (``cfcompile.runs``) and the curifactory mirror modules
that expose it (``cfcompile.mirror``): run numbers, run folders, registries, reports."""

from __future__ import annotations

import json
import os

import pytest

import cfcompile as cf
from cfcompile.caching import PickleCacher
from cfcompile.mirror import caching as mirror_caching
from cfcompile.mirror import reporting as mirror_reporting
from cfcompile.mirror import run_line, staging
from cfcompile.reporting import JsonReporter
from cfcompile.runs import RunStore, manager_preset


def live(tmp_path, name="exp", **kw):
    paths = {k: str(tmp_path / k) for k in ("cache_path", "runs_path", "reports_path", "logs_path")}
    return cf.ArtifactManager(name, manager_cache_path=str(tmp_path), **paths, **kw)


def test_live_runs_are_numbered_per_experiment_in_the_store(tmp_path):
    first, second, other = live(tmp_path), live(tmp_path), live(tmp_path, "other")
    assert [first.experiment_run_number, second.experiment_run_number] == [1, 2]
    assert other.experiment_run_number == 1
    assert first.run_info["reference"] == first.get_reference_name()
    first.status = "complete"
    first.store()
    run, _ = RunStore(str(tmp_path)).get_run(first.get_reference_name())
    assert run["status"] == "complete" and run["run_number"] == 1
    assert not os.path.exists(tmp_path / "dry" / "store.json")
    cf.ArtifactManager("d", manager_cache_path=str(tmp_path / "dry"), dry=True)
    assert not os.path.exists(tmp_path / "dry" / "store.json")


def test_runtime_managers_keep_no_store(tmp_path):
    cf.ArtifactManager("job", manager_cache_path=str(tmp_path), run_info={"x": 1})
    assert not (tmp_path / "store.json").exists()
    with manager_preset(run_store=True, run_info={"x": 1}):
        kept = cf.ArtifactManager("job", manager_cache_path=str(tmp_path))
    assert (tmp_path / "store.json").exists() and kept.run_info["x"] == 1


def test_store_full_copies_what_a_stage_wrote_and_its_metadata(tmp_path):
    manager = live(tmp_path, store_full=True)

    @cf.stage(None, ["out"], [PickleCacher])
    def make(record):
        with open(record.get_path("extra.txt"), "w") as f:
            f.write("x")
        record.get_path("untracked.txt", track=False)
        return 1

    record = make(cf.Record(manager, cf.ExperimentParameters(name="p")))
    artifacts = os.path.join(manager.get_run_output_path(), "artifacts")
    h = record.get_hash()
    assert sorted(os.listdir(artifacts)) == [
        f"exp_{h}_make_extra.txt",
        f"exp_{h}_make_out.pkl",
        f"exp_{h}_make_out_metadata.json",
    ]
    manager.run_line = "experiment exp --store-full --overwrite"  # a LIVE manager's: sys.argv
    manager.store()
    assert manager.run_info["reproduce"] == (
        f"experiment exp --cache {manager.get_run_output_path()}/artifacts --dry-cache"
    )
    folder = manager.get_run_output_path()
    assert {"requirements.txt", "environment_meta.txt", "params_registry.json"} <= set(
        os.listdir(folder)
    )
    assert h in json.loads((tmp_path / "params_registry.json").read_text())


def test_report_gets_css_latest_and_the_run_folder_copy(tmp_path):
    manager = live(tmp_path, store_full=True)

    @cf.stage(None, ["out"])
    def make(record):
        record.report(JsonReporter({"a": 1}, name="scores"))
        return 1

    make(cf.Record(manager, cf.ExperimentParameters(name="p")))
    folder = manager.generate_report()
    assert os.path.isfile(os.path.join(folder, "style.css"))
    assert os.path.realpath(tmp_path / "reports_path" / "_latest") == os.path.realpath(folder)
    assert os.path.isfile(os.path.join(manager.get_run_output_path("report"), "index.html"))
    lines = mirror_reporting.render_reportable(manager.reportables[0], manager, folder)
    assert manager.reportables[0].qualified_name in lines[1] and "<h3>" in lines[2]
    dump = mirror_reporting.render_report_argset_dump(manager)
    assert dump[0].startswith("<h4>p - ") and dump[1] == "<pre>"
    with pytest.raises(NotImplementedError, match="--dag"):
        mirror_reporting._add_record_subgraph(None, 0, None, manager)


def test_manager_lazy_flags_change_how_outputs_are_kept(tmp_path):
    manager = live(tmp_path)

    @cf.stage(None, ["out"])
    def make(record):
        return "v"

    manager.lazy = True
    record = make(cf.Record(manager, None))
    record.state.resolve = False
    assert isinstance(record.state["out"], cf.Lazy)
    assert isinstance(record.state["out"].cacher, PickleCacher)
    manager.lazy, manager.ignore_lazy = False, True

    @cf.stage(None, [cf.Lazy("kept")])  # no cachers: fine when lazy is ignored
    def plain(record):
        return "w"

    other = plain(cf.Record(manager, None))
    other.state.resolve = False
    assert other.state["kept"] == "w"


def test_mirror_names(monkeypatch):
    assert mirror_caching._PandasIOType["pickle"].value == "pkl"
    assert mirror_caching.PickleCacher is PickleCacher

    def f(a, b, c=1): ...

    assert staging._missing_signature_inputs(f, ["a", "x", "c"], {}) == (["x"], ["a"])
    line = run_line.run_line(
        "exp", {"param_files": ["p"], "cache_dir_override": "c", "store_full": True}
    )
    assert line == "experiment exp -p p --cache c --store-full"
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert run_line.distributed_worker()
