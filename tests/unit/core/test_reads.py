"""What a stage reads of its parameters (``core.reads``) and the reuse classes built on it."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from dataclasses import dataclass, field

import pytest

import cfcompile as cf
from cfcompile.core import learned, reuse
from cfcompile.core.reads import EVERYTHING, UndeclaredParameterError, watching
from cfcompile.errors import StageDefinitionError


@dataclass
class Data:
    path: str = "x.csv"
    rows: int = 10


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 1
    lr: float = 0.1
    data: Data = field(default_factory=Data)


@dataclass(frozen=True)
class Frozen:
    a: int = 1
    b: int = 2


def test_field_reads_are_noted_by_path_and_the_object_is_left_as_it_was():
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        assert isinstance(p, P) and p.__class__ is P
        _ = p.seed, p.data.path
    # the nested object itself counts as read (its type, what it holds), and its fields too
    assert reads.summary() == ["data", "data.path", "seed"]
    assert type(p) is P and type(p.data) is Data  # restored: nothing outlives the call


@pytest.mark.parametrize(
    "use",
    [
        dataclasses.asdict,
        vars,
        pickle.dumps,
        copy.copy,
        copy.deepcopy,
    ],
)
def test_a_use_that_sees_every_field_counts_as_reading_everything(use):
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        result = use(p)
    assert reads.summary() == [EVERYTHING]
    if use in (copy.copy, copy.deepcopy):
        assert type(result) is P  # a copy is of the researcher's own class
    if use is pickle.dumps:
        assert type(pickle.loads(result)) is P


def test_repr_and_equality_read_each_field():
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        repr(p)
    assert {"seed", "lr", "data.path", "data.rows", "name"} <= set(reads.summary())


def test_an_object_made_from_the_watched_class_pickles_as_the_researchers():
    p = P(name="a")
    with watching(p, "s", "a", None):
        made = type(p)(name="b")
    assert type(pickle.loads(pickle.dumps(made))) is P
    assert type(copy.deepcopy(made)) is P


def test_representations_tell_apart_what_the_hash_skips_and_nested_types():
    @dataclass
    class Other:
        path: str = "x.csv"
        rows: int = 10

    a, b = P(name="a", data=Data()), P(name="b", data=Other())
    assert reuse.reads_digest(a, ["data"], "s") != reuse.reads_digest(b, ["data"], "s")
    assert reuse.reads_digest(a, ["name"], "s") != reuse.reads_digest(b, ["name"], "s")
    none = P(name="c", data=None)
    assert reuse.reads_digest(none, ["data.path"], "s")  # an optional nested set: no crash


def test_frozen_parameter_sets_are_watched_too():
    f = Frozen()
    with watching(f, "s", "a", None) as reads:
        _ = f.b
    assert reads.summary() == ["b"] and type(f) is Frozen


def test_a_declaration_is_checked_at_the_read():
    p = P(name="a")
    with watching(p, "s", "a", ["seed", "data"]) as reads:
        _ = p.seed, p.data.rows  # "data" covers its nested fields
    assert reads.summary() == ["data", "data.rows", "seed"]
    with pytest.raises(UndeclaredParameterError, match=r"read record.params.data.path"):
        with watching(p, "prep", "a", ["seed", "data.rows"]):
            _ = p.data.path
    with pytest.raises(UndeclaredParameterError, match="used the whole parameter object"):
        with watching(p, "prep", "a", ["seed"]):
            vars(p)
    assert type(p) is P and type(p.data) is Data


def _spec(**kw):
    @cf.stage(outputs=["x"], **kw)
    def prep(record):
        return 1

    return prep.spec


def test_classes_follow_the_declared_values_the_inputs_and_the_code():
    spec = _spec(uses=["seed", "data.path"])
    a, b = P(name="a", lr=0.1), P(name="b", lr=0.2)
    key = reuse.node_key(spec, "code", a, [])
    assert key is not None and key == reuse.node_key(spec, "code", b, [])  # lr is not used
    assert key != reuse.node_key(spec, "code", P(name="c", seed=2), [])  # a used value
    assert key != reuse.node_key(spec, "code", P(name="d", data=Data(path="y")), [])
    assert key != reuse.node_key(spec, "other code", a, [])  # edited stage
    assert reuse.node_key(spec, "code", a, ["k1"]) != reuse.node_key(spec, "code", a, ["k2"])
    assert reuse.node_key(spec, "code", a, [None]) is None  # input from a node never merged
    assert reuse.node_key(_spec(uses=["seed"], reuse=False), "code", a, []) is None
    assert reuse.node_key(_spec(), "code", a, []) is None  # nothing declared
    with pytest.raises(reuse.UnknownParameterError, match=r"'data.size'"):
        reuse.node_key(_spec(uses=["data.size"]), "code", a, [])


def test_uses_must_be_a_list_of_names():
    with pytest.raises(StageDefinitionError, match="uses= takes a list of field names"):
        _spec(uses="seed")


class _Rec:
    """What ``learned.record`` asks of a record: its parameters and hash."""

    def __init__(self, params):
        self.params = params

    def get_hash(self):
        return "h-" + self.params.name


class _Cacher:
    """What the index asks of a cacher: where its artifact and metadata are published."""

    def __init__(self, path):
        self.path = str(path)

    def final_path(self, suffix=None):
        return self.path if suffix is None else self.path[: -len(".json")] + suffix


def test_a_learned_entry_serves_every_set_that_agrees_on_what_was_read(tmp_path):
    spec = _spec()  # declares nothing: learned
    base = learned.learned_base(spec, "code", [])
    assert base is not None and learned.learned_base(_spec(uses=["seed"]), "code", []) is None
    out = tmp_path / "a_x.json"
    out.write_text("1")
    meta = tmp_path / "a_x_metadata.json"
    meta.write_text(json.dumps({"params_hash": "h-a", "stage_code": "code"}))
    a = P(name="a", seed=1, lr=0.1)
    read = {"fields": ["seed"], "digest": reuse.reads_digest(a, ["seed"], "prep")}
    published = [str(out), str(meta)]
    cachers = [_Cacher(out)]
    key = learned.record(str(tmp_path), base, read, published, _Rec(a), cachers, "code")
    found = learned.find(str(tmp_path), base, P(name="b", seed=1, lr=9.0), "prep")
    assert found is not None and found[1] == key and found[0]["params_name"] == "a"
    assert learned.find(str(tmp_path), base, P(name="c", seed=2), "prep") is None
    # the source rewritten by other code (another branch, curifactory): no longer a source
    meta.write_text(json.dumps({"params_hash": "h-a", "stage_code": "other"}))
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None
    meta.write_text(json.dumps({"params_hash": "h-a", "stage_code": "code"}))
    whole = {"fields": [EVERYTHING], "whole": "vars of record.params, at e.py:3"}
    assert learned.record(str(tmp_path), base, whole, published, _Rec(a), cachers, "code") is None
    assert learned.whole_use(str(tmp_path), base) == "vars of record.params, at e.py:3"
    out.unlink()  # an entry whose files are gone serves nobody
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None


def test_eager_values_passed_in_the_call_are_never_merged(tmp_path):
    from cfcompile.caching import JsonCacher

    calls = []

    @cf.stage(outputs=["x"], cachers=[JsonCacher], uses=["seed"])
    def scaled(record, factor):
        calls.append(factor)
        return record.params.seed * factor

    assert reuse.reusable(scaled.spec)

    manager = cf.ArtifactManager("t", cache_path=str(tmp_path))
    scaled(cf.Record(manager, P(name="a", seed=1)), 2)
    scaled(cf.Record(manager, P(name="b", seed=1, lr=0.5)), 3)
    assert calls == [2, 3]  # equal declared fields, different values in the call
