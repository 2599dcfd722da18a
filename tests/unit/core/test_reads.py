"""What a stage reads of its parameters (``core.reads``) and the reuse classes built on it."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from dataclasses import dataclass, field

import pytest

import cfcompile as cf
from cfcompile.core import learned, reuse, tokens
from cfcompile.core.reads import EVERYTHING, ParameterWriteError, Reads, UndeclaredParameterError
from cfcompile.core.watch import watching
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
    # reaching the nested object reads its class, and its fields are noted one by one
    assert reads.summary() == ["data.__class__", "data.path", "seed"]
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
    assert tokens.reads_digest(a, ["data"], "s") != tokens.reads_digest(b, ["data"], "s")
    assert tokens.reads_digest(a, ["name"], "s") != tokens.reads_digest(b, ["name"], "s")
    none = P(name="c", data=None)
    assert tokens.reads_digest(none, ["data.path"], "s")  # an optional nested set: no crash


def test_frozen_parameter_sets_are_watched_too():
    f = Frozen()
    with watching(f, "s", "a", None) as reads:
        _ = f.b
    assert reads.summary() == ["b"] and type(f) is Frozen


def test_a_declaration_is_checked_at_the_read():
    p = P(name="a")
    with watching(p, "s", "a", ["seed", "data"]) as reads:
        _ = p.seed, p.data.rows  # "data" covers its nested fields
    assert reads.summary() == ["data.__class__", "data.rows", "seed"]
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


ON = reuse.Settings(reuse=True, learned=False)


def test_classes_follow_the_declared_values_the_class_the_inputs_and_the_code():
    spec = _spec(uses=["seed", "data.path"])
    a, b = P(name="a", lr=0.1), P(name="b", lr=0.2)
    key = reuse.decide(spec, a, {}, ON).key
    assert key is not None and key == reuse.decide(spec, b, {}, ON).key  # lr is not used
    assert key != reuse.decide(spec, P(name="c", seed=2), {}, ON).key  # a used value
    assert key != reuse.decide(spec, P(name="d", data=Data(path="y")), {}, ON).key

    class Sub(P):
        pass

    assert key != reuse.decide(spec, Sub(name="e"), {}, ON).key  # the parameter class
    other = _spec(uses=["seed", "data.path"], cachers=[cf.caching.PickleCacher])
    assert key != reuse.decide(other, a, {}, ON).key  # another stage
    assert reuse.decide(spec, a, {"d": "k1"}, ON) != reuse.decide(spec, a, {"d": "k2"}, ON)
    assert reuse.decide(spec, a, {"d": None}, ON).mode is reuse.Mode.NONE  # producer unmerged
    assert reuse.decide(spec, a, None, ON).mode is reuse.Mode.NONE  # a value handed over
    assert reuse.decide(_spec(uses=["seed"], reuse=False), a, {}, ON).key is None
    assert reuse.decide(_spec(), a, {}, ON).key is None  # nothing declared, no --reuse
    assert reuse.decide(_spec(), a, {}, reuse.Settings(True, True)).mode is reuse.Mode.LEARNED
    assert reuse.decide(spec, a, {}, reuse.Settings(False, False)).key is None  # --no-reuse
    with pytest.raises(reuse.UnknownParameterError, match=r"'data.size'"):
        reuse.decide(_spec(uses=["data.size"]), a, {}, ON)


def test_a_declared_value_without_a_faithful_encoding_says_why_it_is_never_merged():
    @dataclass
    class Q(cf.ExperimentParameters):
        opt: object = None

    class Opt:
        def __repr__(self):
            return "Opt()"

    decision = reuse.decide(_spec(uses=["opt"]), Q(name="q", opt=Opt()), {}, ON)
    assert decision.mode is reuse.Mode.NONE
    assert "record.params.opt" in decision.why and "Opt" in decision.why


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


def _reads(paths, everything=None):
    reads = Reads("prep", "a", None)
    reads.paths = set(paths)
    reads.everything = everything
    return reads


def test_a_learned_entry_serves_every_set_that_agrees_on_what_was_read(tmp_path):
    spec = _spec()  # declares nothing: learned
    base = reuse.decide(spec, P(name="a"), {}, reuse.Settings(True, True)).key
    assert base is not None
    out = tmp_path / "a_x.json"
    out.write_text("1")
    meta = tmp_path / "a_x_metadata.json"
    meta.write_text(json.dumps({"params_hash": "h-a", "code_identity": "code"}))
    a = P(name="a", seed=1, lr=0.1)
    published = [str(out), str(meta)]
    cachers = [_Cacher(out)]
    key = learned.record(str(tmp_path), base, _reads(["seed"]), published, _Rec(a), cachers, "code")
    found = learned.find(str(tmp_path), base, P(name="b", seed=1, lr=9.0), "prep")
    assert found is not None and found[1] == key and found[0]["params_name"] == "a"
    assert learned.find(str(tmp_path), base, P(name="c", seed=2), "prep") is None
    # the source rewritten by other code (another branch, curifactory): no longer a source
    meta.write_text(json.dumps({"params_hash": "h-a", "code_identity": "other"}))
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None
    meta.write_text(json.dumps({"params_hash": "h-a", "code_identity": "code"}))
    whole = _reads([], everything="vars of record.params, at e.py:3")
    assert learned.record(str(tmp_path), base, whole, published, _Rec(a), cachers, "code") is None
    assert learned.whole_use(str(tmp_path), base) == "vars of record.params, at e.py:3"
    forked = _reads(["seed"])
    forked.incomplete = "the process forked while the stage ran"
    assert learned.record(str(tmp_path), base, forked, published, _Rec(a), cachers, "x") is None
    out.unlink()  # an entry whose files are gone serves nobody
    assert learned.find(str(tmp_path), base, P(name="b", seed=1), "prep") is None


def test_eager_values_passed_in_the_call_are_never_merged(tmp_path):
    from cfcompile.caching import JsonCacher

    calls = []

    @cf.stage(outputs=["x"], cachers=[JsonCacher], uses=["seed"])
    def scaled(record, factor):
        calls.append(factor)
        return record.params.seed * factor

    manager = cf.ArtifactManager("t", cache_path=str(tmp_path))
    scaled(cf.Record(manager, P(name="a", seed=1)), 2)
    scaled(cf.Record(manager, P(name="b", seed=1, lr=0.5)), 3)
    assert calls == [2, 3]  # equal declared fields, different values in the call


def test_a_stage_called_inside_another_has_its_own_watch():
    p = P(name="a")
    with watching(p, "outer", "a", None) as outer:
        _ = p.seed  # the outer reads seed first
        with pytest.raises(
            UndeclaredParameterError, match=r"'inner' \[a\] read record.params.seed"
        ):
            with watching(p, "inner", "a", ["lr"]):
                _ = p.seed  # noted afresh for the inner call, and checked
        with watching(p, "inner2", "a", None) as inner:
            _ = p.lr
        _ = p.data.rows  # the outer's reads after an inner call are still noted
    assert inner.summary() == ["lr"]
    assert outer.summary() == ["data.__class__", "data.rows", "seed"]
    assert type(p) is P and type(p.data) is Data


def test_parameters_are_read_only_inside_a_stage():
    p = P(name="a")
    with pytest.raises(ParameterWriteError, match=r"'s' \[a\] assigned record.params.seed at .*"):
        with watching(p, "s", "a", None):
            p.seed = 100
    with pytest.raises(ParameterWriteError, match=r"record.params.data.rows"):
        with watching(p, "s", "a", None):
            p.data.rows = 3
    assert p.seed == 1 and p.data.rows == 10
    made = None
    with watching(p, "s", "a", None):
        made = type(p)(name="b", seed=7)  # a new object of the class: not the set's
        made.lr = 0.5
    assert made.lr == 0.5

    @dataclass
    class L(cf.ExperimentParameters):
        items: list = field(default_factory=lambda: [1, 2])

    q = L(name="q")
    with pytest.raises(ParameterWriteError, match=r"changed record.params.items in place"):
        with watching(q, "s", "q", None) as reads:
            q.items.append(3)
            reads.returned = True
            reads.check_writes()


def test_a_fork_during_the_call_or_a_read_after_it_leaves_the_read_set_incomplete():
    import os

    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        _ = p.seed
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    assert "forked" in reads.incomplete and reads.depends() is None
    with watching(p, "s", "a", None) as late:
        _ = p.seed
        late.returned = True
        _ = p.lr  # a thread the stage started, reading after it returned
    assert "after the stage returned" in late.incomplete and late.depends() is None


def test_an_output_holding_the_parameters_reads_all_of_them():
    p = P(name="a")
    with watching(p, "s", "a", None) as reads:
        _ = p.seed
        reads.scan(({"score": 1, "config": p},))
    assert reads.summary() == [EVERYTHING]
    with watching(p, "s", "a", None) as reads:
        data = p.data
        reads.scan((lambda: data,))  # not picklable: its references are walked
    assert "data" in reads.summary()
    with pytest.raises(UndeclaredParameterError, match="an output of the stage holds"):
        with watching(p, "s", "a", ["seed"]) as reads:
            reads.scan(([p],))


def test_a_cached_property_is_blamed_on_the_researchers_line():
    import functools

    @dataclass
    class C(cf.ExperimentParameters):
        a: int = 1
        b: int = 2

        @functools.cached_property
        def total(self):
            return self.a + self.b

    c = C(name="c")
    _ = c.total  # cached before the stage: dropped, so the getter's reads are seen
    with pytest.raises(UndeclaredParameterError, match=r"test_reads.py:\d+") as err:
        with watching(c, "s", "c", ["a"]):
            _ = c.total
    assert "functools" not in str(err.value)
