"""Faithful encodings of parameter values (``core.tokens``): the material of every reuse key.
The code identity of functions is tests/unit/test_identity.py's."""

from __future__ import annotations

import enum
import functools
import importlib
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import cfcompile as cf
from cfcompile.core import tokens
from cfcompile.core.tokens import Unfaithful, digest, path_digest


@dataclass
class Data:
    name: str = "iris"
    size: int = 10


@dataclass
class P(cf.ExperimentParameters):
    x: int = 5
    data: Data = field(default_factory=Data)


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Adam:
    def __init__(self, lr):
        self.lr = lr

    def __repr__(self):
        return "Adam()"


def double(x):
    return x * 2


def test_plain_values_are_told_apart_by_type_and_value():
    values = [None, True, 1, 1.0, "1", b"1", (1,), [1], {1}, {"a": 1}, Color.RED, Path("1")]
    digests = [digest(v) for v in values]
    assert len(set(digests)) == len(values)  # True is not 1, a tuple is not a list
    assert digest([1, 2]) == digest([1, 2]) and digest([1, 2]) != digest([2, 1])
    assert digest({"a": 1, "b": 2}) != digest({"b": 2, "a": 1})  # order is what a loop sees
    assert digest(0.1 + 0.2) != digest(0.3)  # every bit of a float
    assert digest(frozenset({"b", "a"})) == digest(frozenset({"a", "b"}))


def test_a_nested_dataclass_counts_every_field_name_included():
    assert digest(Data("iris", 10)) != digest(Data("wine", 10))

    @dataclass
    class Other:
        name: str = "iris"
        size: int = 10

    assert digest(Data()) != digest(Other())  # same fields, another class


def test_arrays_by_content_and_scalars_by_type():
    a = np.arange(2000, dtype=float)
    b = a.copy()
    b[1000] = -1  # numpy's repr elides the middle: content decides
    assert repr(a) == repr(b) and digest(a) != digest(b)
    assert digest(np.float64(1.0)) != digest(1.0) and digest(np.int32(1)) != digest(np.int64(1))


def test_functions_by_module_qualname_code_and_what_they_close_over():
    assert digest(double) == digest(double)
    lam = [lambda x: x * 2, lambda x: x * 3]  # one line, one qualname
    assert digest(lam[0]) != digest(lam[1])

    def scaler(k):
        return lambda x: x * k

    assert digest(scaler(2)) != digest(scaler(3))  # the closure's cell
    assert digest(functools.partial(double, 1)) != digest(functools.partial(double, 2))
    assert digest(max) == digest(max) and digest(max) != digest(min)


def test_same_qualname_in_two_modules_differs(tmp_path, monkeypatch):
    for name, k in (("fa", 2), ("fb", 3)):
        (tmp_path / f"{name}.py").write_text(f"def f(x):\n    return x * {k}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fa, fb = importlib.import_module("fa"), importlib.import_module("fb")
    assert fa.f.__qualname__ == fb.f.__qualname__
    assert digest(fa.f) != digest(fb.f)


def test_a_value_without_a_faithful_encoding_names_the_path_and_type():
    with pytest.raises(Unfaithful, match=r"record.params.opt: a .*Adam has no representation"):
        path_digest(_with(opt=Adam(0.1)), "opt", "s")
    with pytest.raises(Unfaithful, match="callable"):
        digest(_Call())


class _Call:
    def __call__(self):
        return 1


def _with(**values):
    @dataclass
    class Q(cf.ExperimentParameters):
        opt: object = None
        hash_representations: dict = cf.set_hash_functions()

    q = Q(name="q")
    for k, v in values.items():
        setattr(q, k, v)
    return q


def test_a_hash_representations_function_makes_a_field_mergeable_but_none_never():
    @dataclass
    class Q(cf.ExperimentParameters):
        opt: object = None
        hash_representations: dict = cf.set_hash_functions(opt=lambda p, v: str(v.lr))

    a, b, c = Q(name="a", opt=Adam(0.1)), Q(name="b", opt=Adam(0.1)), Q(name="c", opt=Adam(0.5))
    assert path_digest(a, "opt", "s") == path_digest(b, "opt", "s")
    assert path_digest(a, "opt", "s") != path_digest(c, "opt", "s")

    @dataclass
    class R(cf.ExperimentParameters):
        opt: object = None
        hash_representations: dict = cf.set_hash_functions(opt=None)

    with pytest.raises(Unfaithful):
        path_digest(R(name="r", opt=Adam(0.1)), "opt", "s")


def test_paths_hold_the_classes_on_the_way():
    class Sub(P):
        pass

    assert path_digest(P(name="a"), "x", "s") != path_digest(Sub(name="a"), "x", "s")
    assert path_digest(P(name="a"), "data.__class__", "s") == path_digest(
        P(name="b", data=Data("wine", 3)), "data.__class__", "s"
    )
    none = P(name="c", data=None)
    assert path_digest(none, "data.size", "s")  # None on the way stands for the rest
    with pytest.raises(tokens.UnknownParameterError, match="'data.rows'"):
        path_digest(P(name="a"), "data.rows", "s")


def test_identities_are_the_same_in_another_process(tmp_path):
    """No address, no string-hash order: a fresh interpreter computes the same digests."""
    (tmp_path / "consts.py").write_text(
        textwrap.dedent(
            """
            def f(x):
                return x in {"a", "b", "c", "d"} and (lambda y: y)(x)
            """
        )
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import consts;"
        "from cfcompile.core.tokens import digest; print(digest(consts.f))"
    )
    out = {
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(out) == 1
