"""``Record`` and ``ArtifactManager`` (``cfcompile.record``): state, copies, names, paths."""

from __future__ import annotations

import pytest

from cfcompile import hashing
from cfcompile.errors import CfcompileError, ParamsError
from cfcompile.params import ExperimentParameters
from cfcompile.record import ArtifactManager, Record
from cfcompile.reporting import JsonReporter


def test_lazy_output_stays_lazy_and_loads_on_access(tmp_path):
    import cfcompile as cf
    from cfcompile.caching import Lazy, PickleCacher

    @cf.stage(outputs=[Lazy("big")], cachers=[PickleCacher])
    def make(record):
        return [1] * 1000

    manager = cf.ArtifactManager("lz", cache_path=str(tmp_path))
    rec = make(cf.Record(manager, cf.ExperimentParameters(name="p")))
    rec.state.resolve = False
    assert isinstance(rec.state["big"], Lazy)
    rec.state.resolve = True
    assert rec.state["big"] == [1] * 1000


def test_make_copy_carries_state(tmp_path):
    import cfcompile as cf

    @cf.stage(outputs=["v"])
    def give(record):
        return 5

    manager = cf.ArtifactManager("cp", cache_path=str(tmp_path))
    base = give(cf.Record(manager, cf.ExperimentParameters(name="a")))
    copy = base.make_copy(cf.ExperimentParameters(name="b"))
    assert copy.state["v"] == 5 and copy.input_records == [base]
    assert copy.get_hash() == base.get_hash()  # same fields -> same hash, names differ


def manager_in(tmp_path, **kw):
    return ArtifactManager("exp", cache_path=str(tmp_path / "cache"), folders=False, **kw)


def test_cache_file_names_are_curifactorys_and_stay_inside_the_cache(tmp_path):
    m = manager_in(tmp_path)
    r = Record(m, ExperimentParameters(name="p"))
    h = r.get_hash()
    assert h == r.params.hash == hashing.params_hash(ExperimentParameters(name="q"))  # made now
    assert m.get_artifact_filename("out", r) == f"exp_{h}__out"  # before any stage: empty
    m.current_stage_name = "fit"
    assert r.get_path("out") == str(tmp_path / "cache" / f"exp_{h}_fit_out")
    assert r.get_path("out", prefix="shared", stage_name="s") == str(
        tmp_path / "cache" / f"shared_{h}_s_out"
    )
    assert manager_in(tmp_path, prefix="pre").get_artifact_filename("o", r, stage_name="s") == (
        f"pre_{h}_s_o"
    )
    with pytest.raises(CfcompileError, match="outside the cache folder"):
        r.get_path("x", subdir="../elsewhere")
    assert manager_in(tmp_path, lazy=True).lazy  # stages.as_run_by makes every output Lazy


def test_records_without_parameters_aggregates_and_overwrite(tmp_path):
    m = manager_in(tmp_path)
    a, b = Record(m, ExperimentParameters(name="a")), Record(m, ExperimentParameters(name="b"))
    plain = Record(m, None)
    assert plain.get_hash() == "None" and not plain.uses_cache() and plain.overwrite_requested()
    agg = Record(m, None)
    agg.input_records = [a, b]
    agg.set_aggregate([a, b])
    assert agg.is_aggregate and agg.get_hash() == hashing.combo_hash(None, [a.params.hash] * 2)
    assert agg.uses_cache() and not agg.overwrite_requested()
    b.params.overwrite = True  # an input's overwrite reaches the aggregate
    assert agg.overwrite_requested() and b.overwrite_requested() and not a.overwrite_requested()
    assert [r.get_record_index() for r in (a, b, plain, agg)] == [0, 1, 2, 3]
    assert repr(a) == f"<Record Record 0 (a) hash={a.get_hash()}>"
    everything = manager_in(tmp_path, overwrite=True)  # --overwrite
    assert Record(everything, ExperimentParameters(name="c")).overwrite_requested()
    bad = ExperimentParameters(name="bad")
    bad.hash = "Not/Inside"
    with pytest.raises(ParamsError, match="out of the cache folder"):
        Record(m, bad)


def test_a_reportable_is_named_after_its_set_stage_and_name(tmp_path):
    m = manager_in(tmp_path)
    r = Record(m, ExperimentParameters(name="a/b"))
    r.stages.append("fit")
    r.report(JsonReporter({"x": 1}, name="scores"))
    r.report(JsonReporter({"x": 2}))  # unnamed: its index among the manager's reportables
    agg = Record(m, None)
    agg.set_aggregate([r])
    agg.stages.append("compare")
    agg.report(JsonReporter({}, name="table"))
    names = [rep.qualified_name for rep in m.reportables]
    assert names == ["a_b_fit_scores", "a_b_fit_1", "(Aggregate)_compare_table"]
    assert all(rep.record is not None for rep in m.reportables)


def test_a_researchers_manager_makes_curifactorys_folders_where_it_is_told(tmp_path):
    paths = {k: str(tmp_path / k) for k in ("cache_path", "runs_path", "reports_path", "logs_path")}
    ArtifactManager("exp", **paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(paths)
    dry = tmp_path / "dry"
    ArtifactManager("exp", dry=True, **{k: str(dry / k) for k in paths})
    assert not dry.exists()  # a dry run writes nothing
