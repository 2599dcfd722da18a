"""core/: resource requests and their merge, a stage's outputs, one stage call, provenance."""

from __future__ import annotations

import json
import subprocess

import pytest

import cfcompile as cf
from cfcompile.caching import JsonCacher, Lazy, PickleCacher
from cfcompile.core import execute, outputs, provenance, resources
from cfcompile.errors import OutputSignatureError, StageInputError


def test_a_timeout_bounds_the_runtime_a_scheduler_is_asked_for():
    assert resources.node_resources({}, 600) == {"runtime": 11}  # 10 min + a minute to start
    assert resources.node_resources({"runtime": 5}, 600) == {"runtime": 5}  # declared wins
    assert resources.node_resources({"mem_mb": 100}, None) == {"mem_mb": 100}


def test_merge_sums_runtimes_in_sequence_and_takes_the_largest_otherwise():
    a = {"runtime": 10, "mem_mb": 100, "partition": "gpu"}
    b = {"mem_mb": 300, "runtime": 5.5, "gpu": 1, "partition": "cpu"}
    assert resources.merge([a, b], in_sequence=True) == {
        "runtime": 16,  # 15.5, rounded up to whole minutes
        "mem_mb": 300,
        "partition": "gpu",  # strings keep the first value
        "gpu": 1,
    }
    assert resources.merge([a, b], in_sequence=False)["runtime"] == 10
    assert resources.merge([{"mem_mb": 100}], in_sequence=True) == {"mem_mb": 100}  # no runtime
    assert resources.merge([{"mem_mb": True}], in_sequence=False) == {"mem_mb": True}  # no number


@cf.stage(outputs=["a", Lazy("big")], cachers=[JsonCacher, PickleCacher])
def make(record):
    return record.params.name.upper(), list(range(3))


@cf.aggregate(inputs=["a"], outputs=["joined"], cachers=[JsonCacher(name="custom")])
def join(record, records, a):
    return sorted(a.values())


@pytest.fixture
def manager(tmp_path):
    return cf.ArtifactManager("exp", cache_path=str(tmp_path / "cache"), folders=False)


def test_output_cachers_follow_curifactorys_naming_rules(manager):
    record = cf.Record(manager, cf.ExperimentParameters(name="p"))
    names = [c.name for c in outputs.output_cachers(make.spec, record)]
    assert names == ["a", "big"]  # a stage names every cacher after its output
    agg = cf.Record(manager, None)
    assert outputs.output_cacher(join.spec, agg, 0).name == "custom"  # an aggregate keeps it
    plain = cf.stage(outputs=["x"])(lambda record: 1)
    assert isinstance(outputs.output_cachers(plain.spec, record)[0], PickleCacher)
    assert outputs.declared_cachers(plain.spec, record) is None  # eager: not cached


def test_split_outputs_refuses_a_wrong_count_naming_the_set():
    with pytest.raises(OutputSignatureError, match="parameter set 'p'.*returned 1 value"):
        outputs.split_outputs(make.spec, "only one", "p")
    assert outputs.split_outputs(make.spec, ("A", [1]), "p") == ("A", [1])


def test_run_stage_runs_then_serves_from_the_cache(manager, tmp_path):
    p = cf.ExperimentParameters(name="p")
    first = cf.Record(manager, p)
    assert execute.run_stage(make.spec, first, None, (), {}) is execute.Outcome.RAN
    assert first.state["a"] == "P" and isinstance(first.state.raw("big"), Lazy)
    again = cf.Record(manager, p)
    assert execute.run_stage(make.spec, again, None, (), {}) is execute.Outcome.CACHED
    assert again.state["big"] == [0, 1, 2]  # a Lazy output is loaded on access
    (meta_path,) = (tmp_path / "cache").glob(f"exp_{p.hash}_make_a_metadata.json")
    meta = json.loads(meta_path.read_text())
    assert meta["stage"] == "make" and meta["timing"]["seconds"] >= 0 and meta["stage_code"]


def test_a_dry_run_writes_nothing_and_keeps_values_in_memory(manager, tmp_path):
    record = cf.Record(manager, cf.ExperimentParameters(name="q"))
    assert execute.run_stage(make.spec, record, None, (), {}, save=False) is execute.Outcome.RAN
    assert record.state.raw("big") == [0, 1, 2]  # not Lazy: there is no file to load it from
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_gather_inputs_names_a_missing_input(manager):
    @cf.stage(inputs=["a"], outputs=["b"])
    def needs_a(record, a):
        return a

    with pytest.raises(StageInputError, match="input 'a' is not in the record's state"):
        execute.gather_inputs(needs_a.spec, cf.Record(manager, None), None, {})


def test_provenance_records_the_commit_and_a_dirty_tree(tmp_path):
    assert provenance.git_info(str(tmp_path)) == {"git_commit": None, "git_dirty": None}
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    clean = provenance.git_info(str(tmp_path))
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False
    (tmp_path / "f").write_text("2")
    assert provenance.git_info(str(tmp_path))["git_dirty"] is True
    info = provenance.run_info(str(tmp_path), "exp", ["cfcompile", "exp"])
    assert info["cli"] == "cfcompile exp" and info["experiment_name"] == "exp"
