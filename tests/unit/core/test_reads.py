"""What a stage reads of its parameters (``core.reads``): declarations checked at the read,
writes refused, outputs holding the parameters, reads that leave the set incomplete."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

import cfcompile as cf
from cfcompile.core import tokens
from cfcompile.core.reads import EVERYTHING, ParameterWriteError, UndeclaredParameterError
from cfcompile.core.watch import watching

from .sample_params import Data, P


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
