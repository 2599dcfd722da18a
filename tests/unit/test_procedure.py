"""``Procedure`` (``cfcompile.procedure``): stages run in order on one record per parameter
set, an aggregate first over the records it is given, as curifactory defines it."""

from __future__ import annotations

import pytest

import cfcompile as cf
from cfcompile.procedure import NoArtifactManagerError, Procedure


@cf.stage(outputs=["a"])
def load(record):
    return record.params.name


@cf.stage(inputs=["a"], outputs=["b"])
def shout(record, a):
    return a.upper()


@cf.aggregate(inputs=["b"], outputs=["all"])
def gather(record, records, b):
    return sorted(b.values())


def manager(tmp_path):
    return cf.ArtifactManager("proc", cache_path=str(tmp_path / "cache"), folders=False)


def test_the_stages_run_in_order_on_a_new_record_per_set(tmp_path):
    m = manager(tmp_path)
    proc = Procedure([load, shout], m, name="shouting")
    first = proc.run(cf.ExperimentParameters(name="a"))
    second = proc.run(cf.ExperimentParameters(name="b"))
    assert first.state["b"] == "A" and second.state["b"] == "B"
    assert proc.records == [first, second] and proc.record is second
    assert m.records == [first, second]
    hidden = Procedure([load]).run(cf.ExperimentParameters(name="h"), hide=True, manager=m)
    assert hidden not in m.records  # hide=True: not one of the manager's records


def test_an_aggregate_first_takes_the_previous_procedures_records(tmp_path):
    m = manager(tmp_path)
    per_set = Procedure([load, shout], m)
    for name in ("x", "y"):
        per_set.run(cf.ExperimentParameters(name=name))
    Procedure([load, shout], m).run(cf.ExperimentParameters(name="z"))  # not per_set's
    agg = Procedure([gather], m, previous_proc=per_set).run(None)
    assert agg.state["all"] == ["X", "Y"]
    everything = Procedure([gather], m).run(None)  # no records given: every record's
    assert everything.state["all"] == ["X", "Y", "Z"]
    given = Procedure([gather], m, records=per_set.records[:1]).run(None)
    assert given.state["all"] == ["X"]


def test_a_procedure_without_a_manager_says_how_to_give_one():
    with pytest.raises(NoArtifactManagerError, match=r"proc.run\(manager=...\)"):
        Procedure([load]).run(cf.ExperimentParameters(name="a"))
