"""Differential tests: cfcompile's hashes against curifactory 0.20.5 itself.

The real curifactory is imported here, at collection time, before any cfcompile process could
alias the name, and the test asserts it is the real package, so the oracle can never be
cfcompile compared with itself.
"""

from __future__ import annotations

import dataclasses
import keyword
from dataclasses import dataclass, field

import pytest

curifactory = pytest.importorskip("curifactory", reason="curifactory 0.20.5 is the test oracle")
import curifactory.hashing as cf_hashing  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cfcompile as cc  # noqa: E402
from cfcompile import hashing  # noqa: E402

pytestmark = pytest.mark.oracle


def test_oracle_is_the_real_curifactory():
    assert "cfcompile" not in curifactory.__file__
    assert curifactory.ExperimentParameters is not cc.ExperimentParameters


def _pair(fields_spec, reps=None):
    """The same parameter class twice: on cfcompile's base and on curifactory's base."""
    out = []
    for base, set_fns in (
        (cc.ExperimentParameters, cc.set_hash_functions),
        (curifactory.ExperimentParameters, curifactory.set_hash_functions),
    ):
        spec = list(fields_spec)
        if reps is not None:
            spec.append(("hash_representations", dict, set_fns(**reps)))
        out.append(dataclasses.make_dataclass("Params", spec, bases=(base,)))
    return out


# -- the values printed in the seeds (curifactory's parameters documentation) -----------------
def test_seed_values_num_gpus():
    Plain, _ = _pair([("model_size", int, 9000), ("num_gpus", int, 1)])
    assert Plain(name="one_gpu", num_gpus=1).params_hash() == "1ae3169d21cc23f1665561f7e91fe266e"
    assert Plain(name="two_gpus", num_gpus=2).params_hash() == "f1b00c12e820963221b1f60501d3822e"
    Ops, _ = _pair([("model_size", int, 9000), ("num_gpus", int, 1)], {"num_gpus": None})
    assert Ops(name="one_gpu", num_gpus=1).params_hash() == "b50ba553739feea66c8aab97787c22e0"
    assert Ops(name="two_gpus", num_gpus=2).params_hash() == "b50ba553739feea66c8aab97787c22e0"


def test_seed_values_representation_function():
    reps = {"num_gpus": None, "model_size": lambda self, obj: str(obj / self.num_gpus)}
    P, _ = _pair([("model_size", int, 9000), ("num_gpus", int, 1)], reps)
    assert (
        P(name="a", model_size=4500, num_gpus=1).params_hash() == "a04bd13c314c694d8f1cff76cc34d2b"
    )
    assert (
        P(name="b", model_size=9000, num_gpus=2).params_hash() == "a04bd13c314c694d8f1cff76cc34d2b"
    )
    assert (
        P(name="c", model_size=9000, num_gpus=1).params_hash() == "ff1275fb121412c666259c7baefbf4e9"
    )


# -- hand-picked shapes ----------------------------------------------------------------------
@dataclass
class Inner:
    path: str = "x"
    depth: int = 2
    name: str = "ignored at every level"


@dataclass
class InnerWithReps:
    a: int = 1
    b: int = 2
    hash_representations: dict = field(default_factory=lambda: {"b": None})


def some_function(x):
    return x


class SomeClass:
    pass


SHAPES = [
    ([], {}),
    ([("a", int, 0)], {"a": 5}),
    ([("a", int, 0)], {"a": None}),
    ([("x", float, 0.1)], {"x": 1e-9}),
    ([("s", str, "")], {"s": 'x"; import os; os.system("touch PWNED") #'}),
    ([("l", list, field(default_factory=list))], {"l": [1, [2, 3], {"k": "v"}]}),
    ([("d", dict, field(default_factory=dict))], {"d": {"b": 1, "a": (2, 3)}}),
    ([("t", tuple, ())], {"t": (1, "two", 3.0, None)}),
    ([("flag", bool, False)], {"flag": True}),
    ([("inner", Inner, field(default_factory=Inner))], {}),
    ([("inner", Inner, None)], {"inner": Inner(path="p", depth=9)}),
    ([("inner", InnerWithReps, field(default_factory=InnerWithReps))], {}),
    ([("fn", object, None)], {"fn": some_function}),
    ([("cls", object, None)], {"cls": SomeClass}),
    ([("cls", object, None)], {"cls": Inner}),  # a dataclass *class* recurses into defaults
    ([("lam", object, None)], {"lam": lambda v: v}),
    ([("a", int, 1), ("b", int, 1)], {"a": 2, "b": 1}),
    ([("a", int, 1), ("b", int, 1)], {"a": 1, "b": 2}),
]


@pytest.mark.parametrize("spec,values", SHAPES)
def test_shapes_match_curifactory(spec, values):
    Ours, Theirs = _pair(spec)
    ours, theirs = Ours(name="n", **values), Theirs(name="n", **values)
    assert ours.params_hash() == theirs.params_hash()
    assert hashing.string_representations(ours) == cf_hashing.param_set_string_hash_representations(
        theirs
    )


def test_name_overwrite_and_preset_hash():
    Ours, Theirs = _pair([("a", int, 3)])
    assert Ours(name="x").params_hash() == Ours(name="y", overwrite=True).params_hash()
    assert Ours(name="x", hash="pinned").params_hash() == "pinned"
    assert Theirs(name="x", hash="pinned").params_hash() == "pinned"


def test_representation_function_returning_none_is_skipped():
    reps = {"a": lambda self, v: None}
    Ours, Theirs = _pair([("a", int, 3), ("b", int, 4)], reps)
    assert Ours().params_hash() == Theirs().params_hash() == Ours(a=99).params_hash()


def test_combo_hash_matches_curifactory(tmp_path):
    from curifactory import ArtifactManager as TheirManager
    from curifactory import Record as TheirRecord

    _, Theirs = _pair([("a", int, 0)])
    Ours, _ = _pair([("a", int, 0)])
    their_mgr = TheirManager("t", cache_path=str(tmp_path / "c"), dry=True)
    their_inputs = [TheirRecord(their_mgr, Theirs(name=f"s{i}", a=i)) for i in range(4)]
    their_inputs.append(TheirRecord(their_mgr, None))
    for own in (None, Theirs(name="own", a=42)):
        agg = TheirRecord(their_mgr, own)
        agg.set_aggregate(their_inputs)
        ours = hashing.combo_hash(
            None if own is None else Ours(a=42).params_hash(),
            [Ours(a=i).params_hash() for i in range(4)] + [None],
        )
        assert ours == agg.combo_hash


# -- generated shapes ------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=6,
)
field_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: (
        n not in hashing.IGNORED_FIELDS and n not in ("params_hash",) and not keyword.iskeyword(n)
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(field_names, values, min_size=0, max_size=6),
    st.sets(field_names, max_size=2),
    st.dictionaries(field_names, values, max_size=3),
)
def test_generated_shapes_match_curifactory(fields_values, ignored, nested_values):
    nested_cls = dataclasses.make_dataclass(
        "Nested", [(k, object, field(default=None)) for k in nested_values]
    )
    spec = [(k, object, field(default=None)) for k in fields_values]
    spec.append(("nested_zz", object, field(default=None)))
    reps = {k: None for k in ignored if k in fields_values}
    Ours, Theirs = _pair(spec, reps)
    kwargs = dict(fields_values, nested_zz=nested_cls(**nested_values))
    assert Ours(**kwargs).params_hash() == Theirs(**kwargs).params_hash()
