"""Parameter sets as ``get_params()`` returns them: checked, named, selected
(``project.paramsets``)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import cfcompile as cf
from cfcompile.errors import ParamsError
from cfcompile.project import paramsets


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


def test_get_params_must_return_parameter_sets_naming_the_bad_item():
    assert paramsets.checked_params((P(name="a"),), "f.py") == [P(name="a")]
    with pytest.raises(ParamsError, match="f.py: get_params\\(\\) returned dict"):
        paramsets.checked_params({}, "f.py")
    with pytest.raises(ParamsError, match="item 1 is a int"):
        paramsets.checked_params([P(name="a"), 3], "f.py")


def test_indices_select_in_the_order_given():
    assert paramsets.parse_indices(["3", "0-1", "5:"], 7) == [3, 0, 1, 5, 6]
    with pytest.raises(ParamsError, match="out of range"):
        paramsets.parse_indices(["9"], 3)
    with pytest.raises(ParamsError, match="is not N"):
        paramsets.parse_indices(["x"], 3)


def test_two_sets_may_not_share_a_name():
    a, b = P(name="same", x=1), P(name="same", x=2)
    origins = [paramsets.Origin("p", "p.py", 0), paramsets.Origin("p", "p.py", 1)]
    with pytest.raises(ParamsError, match="two different parameter sets are named 'same'"):
        paramsets.refuse_duplicate_names([a, b], origins)
    with pytest.raises(ParamsError, match="listed twice with the same values"):
        paramsets.refuse_duplicate_names([a, P(name="same", x=1)], origins)


def test_an_unpicklable_set_is_refused_naming_the_field():
    bad = P(name="bad")
    bad.fn = lambda: 1  # noqa: B023 - what a researcher might do
    with pytest.raises(ParamsError, match="field 'fn'"):
        paramsets.check_pickles([(bad, paramsets.Origin("p", "p.py", 0))])
