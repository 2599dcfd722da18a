"""``cfcompile.stages.checks``: what a stage call is checked for before it runs."""

from __future__ import annotations

import pytest

import cfcompile as cf
from cfcompile.stages.checks import signature_gaps


def test_signature_gaps_are_curifactorys_two_lists():
    def f(record, a, b, c=1): ...

    assert signature_gaps(f, ["a", "b", "x"], {"b"}) == (["x"], ["a"])
    assert signature_gaps(f, ["c"], set()) == ([], [])


def test_a_call_is_refused_with_curifactorys_exceptions(tmp_path):
    manager = cf.ArtifactManager("chk", cache_path=str(tmp_path), folders=False)

    @cf.stage(["missing"], ["out"])
    def needs(record, missing):
        return missing

    @cf.stage(["a"], ["out"])
    def misnamed(record, b=None):
        return b

    @cf.stage(None, [], cachers=[])
    def empty(record):
        return 1

    record = cf.Record(manager, None)
    with pytest.raises(KeyError):
        needs(record)
    record.state["a"] = 1
    with pytest.raises(cf.InputSignatureError):
        misnamed(record)
    with pytest.raises(cf.EmptyCachersError):
        empty(record)
