"""The tracer, in process: each traced shape becomes the right nodes and edges."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher, Lazy, PickleCacher
from cfcompile.compiler.trace import ArtifactRef
from cfcompile.errors import TraceError


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


@cf.stage(outputs=["a"], cachers=[JsonCacher])
def make_a(record):
    return record.params.x


@cf.stage(inputs=["a"], outputs=["b", Lazy("big")], cachers=[JsonCacher, PickleCacher])
def make_b(record, a):
    return a + 1, [a] * 10


@cf.stage(inputs=["b"], outputs=["c"])  # no cachers: persisted with a default PickleCacher
def make_c(record, b):
    return b * 2


@cf.stage(inputs=["b"])
def side_effect(record, b):
    pass


@cf.stage(inputs=["given"], outputs=["d"], cachers=[JsonCacher])
def use_given(record, given):
    return given


@cf.aggregate(inputs=["b"], outputs=["total"], cachers=[JsonCacher])
def total(record, records, b):
    return sum(b.values())


def trace(run, sets, tmp_path):
    return trace_graph(run, sets, tmp_path)


def test_chain_aggregate_none_and_default_cachers(tmp_path):
    def run(sets, manager):
        for p in sets:
            make_c(make_b(make_a(cf.Record(manager, p))))
        total(cf.Record(manager, None))

    sg, _ = trace(run, [P(name="s0", x=0), P(name="s1", x=1)], tmp_path)
    g = sg.graph
    assert g.number_of_nodes() == 7
    agg = [n for n in sg.nodes() if n.stage == "total"][0]
    assert {e[0][0] for e in g.in_edges(agg.id)} == {"make_b"}
    assert len(list(g.in_edges(agg.id))) == 2
    c_node = [n for n in sg.nodes() if n.stage == "make_c"][0]
    assert c_node.outputs[0]["path"].endswith("_make_c_c.pkl")
    b_node = [n for n in sg.nodes() if n.stage == "make_b"][0]
    assert b_node.outputs[1] == {"name": "big", "path": b_node.outputs[1]["path"], "lazy": True}
    assert g.artifacts(b_node.id, c_node.id) == ["b"]


def test_explicit_records_none_params_and_same_hash_is_one_node(tmp_path):
    def run(sets, manager):
        r0 = make_b(make_a(cf.Record(manager, sets[0])))
        twin = make_b(make_a(cf.Record(manager, sets[1])))  # same fields -> same hash
        make_a(cf.Record(manager, None))
        total(cf.Record(manager, None), [r0, twin])

    sg, _ = trace(run, [P(name="a", x=5), P(name="twin", x=5)], tmp_path)
    stages = [n.stage for n in sg.nodes()]
    assert stages.count("make_a") == 2  # one for the shared hash, one for None params
    assert [n.hash for n in sg.nodes() if n.stage == "make_a"][1] == "None"
    agg = [n for n in sg.nodes() if n.stage == "total"][0]
    assert len(agg.records) == 2 and len(agg.inputs) == 2


def test_make_copy_stage_without_outputs_and_run_state_values(tmp_path):
    def run(sets, manager):
        base = make_b(make_a(cf.Record(manager, sets[0])))
        copy = base.make_copy(sets[1])
        side_effect(copy)
        copy.state["given"] = {"from": "run()"}
        use_given(copy)

    sg, _ = trace(run, [P(name="a", x=1), P(name="b", x=2)], tmp_path)
    side = [n for n in sg.nodes() if n.stage == "side_effect"][0]
    assert side.outputs == [] and side.marker.endswith("_side_effect_cfcompile_done.json")
    assert side.inputs[0].node[0] == "make_b" and side.inputs[0].node[1] != side.hash
    given = [n for n in sg.nodes() if n.stage == "use_given"][0]
    assert given.inputs[0].kind == "source"
    import pickle

    with open(given.inputs[0].path, "rb") as f:
        assert pickle.load(f) == {"from": "run()"}


def test_overwrite_marks_nodes_and_aggregates(tmp_path):
    def run(sets, manager):
        for p in sets:
            make_b(make_a(cf.Record(manager, p)))
        total(cf.Record(manager, None))

    sg, _ = trace(run, [P(name="a", x=1), P(name="b", x=2, overwrite=True)], tmp_path)
    forced = {(n.stage, n.params_name) for n in sg.nodes() if n.force}
    assert forced == {("make_a", "b"), ("make_b", "b"), ("total", None)}


@pytest.mark.parametrize(
    "snippet,word",
    [
        ("if rec.state['a']: pass", "tests the truth of"),
        ("rec.state['a'] + 1", "arithmetic"),
        ("list(rec.state['a'])", "iterates over"),
        ("rec.state['a'][0]", "indexes"),
        ("rec.state['a'].shape", "reads attribute 'shape'"),
        ("print(rec.state['a'])", "prints or formats"),
        ("f\"{rec.state['a']}\"", "prints or formats"),
    ],
)
def test_reading_an_artifact_in_run_names_artifact_and_line(tmp_path, snippet, word):
    ns: dict = {"cf": cf, "make_a": make_a}
    code = "def run(sets, manager):\n    rec = make_a(cf.Record(manager, sets[0]))\n"
    code += f"    {snippet}\n"
    exec(compile(code, "experiments/fake_run.py", "exec"), ns)
    with pytest.raises(TraceError) as err:
        trace(ns["run"], [P(name="a")], tmp_path)
    msg = str(err.value)
    assert "experiments/fake_run.py:3" in msg and word in msg
    assert "artifact 'a' of stage 'make_a'" in msg and "Move this logic into a stage" in msg


def test_refs_survive_deepcopy():
    import copy

    ref = ArtifactRef(("s", "h"), "o", "/p", None)
    assert copy.deepcopy({"x": ref})["x"] is ref


@cf.stage(outputs=["model_x"], cachers=[JsonCacher])
def train(record):
    return 1


@cf.stage(outputs=["x"], cachers=[JsonCacher])
def train_model(record):
    return 1


def test_two_stages_writing_one_file_is_an_error(tmp_path):
    def run(sets, manager):
        train_model(train(cf.Record(manager, sets[0])))

    with pytest.raises(TraceError, match="both write"):
        trace(run, [P(name="a")], tmp_path)


def test_a_stage_defined_inside_a_function_is_refused_at_compile_time(tmp_path):
    @cf.stage(outputs=["y"], cachers=[JsonCacher])
    def inner(record):
        return 1

    def run(sets, manager):
        inner(cf.Record(manager, sets[0]))

    with pytest.raises(TraceError, match="defined inside a function"):
        trace(run, [P(name="a")], tmp_path)
    inner(cf.Record(cf.ArtifactManager("t", cache_path=str(tmp_path / "eager")), P(name="a")))
