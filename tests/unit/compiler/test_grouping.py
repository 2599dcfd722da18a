"""Nodes to job units: K chains a unit, aggregates alone, chains dealt evenly
(``compiler.grouping``)."""

from __future__ import annotations

from cfcompile.compiler.grouping import batch_units, batchable_stages, choose_batch

from ..traced_chains import graph_of


def test_batch_units_hold_k_chains_and_leave_aggregates_alone(tmp_path):
    sg = graph_of(tmp_path, 5)
    assert batchable_stages(sg) == {"ga", "gb"}
    units = batch_units(sg, 2)
    assert [len(m) for m in units.values()] == [4, 4, 2]
    assert all(n.stage != "gm" for m in units.values() for n in m)
    assert batch_units(sg, 0) == {}
    # never run: packed by the balance rule (5 chains, 2 cores, 2 units a core: 2 a unit)
    assert choose_batch(sg, "auto", cores=2).k == 2
    assert choose_batch(sg, "auto", cores=3).k == 1
    assert choose_batch(sg, "1").k == 0 and choose_batch(sg, 3).k == 3


def test_automatic_units_hold_the_chains_evenly(tmp_path):
    """25 chains at K = 4: seven units of 4 or 3 chains, not six of 4 and a last one of 1
    (that last unit, and the cores idle behind the longest, is where the ideal is lost)."""
    sg = graph_of(tmp_path, 25)
    choice = choose_batch(sg, "auto", cores=3)  # 25 chains, 6 units at least: K = 5
    assert (choice.k, choice.even) == (5, True)
    even = batch_units(sg, 4, even=True)
    assert [len(m) // 2 for m in even.values()] == [4, 4, 4, 4, 3, 3, 3]
    assert [len(m) // 2 for m in batch_units(sg, 4).values()] == [4, 4, 4, 4, 4, 4, 1]
    members = [n.id for m in even.values() for n in m]
    assert len(members) == len(set(members)) == 50  # every chain's two nodes, once
    # dealt in turn, not cut in runs: a cost that grows along the sets is spread over units
    first = sorted({n.hash for n in even["0"]}, key=lambda h: int(h, 16))
    assert first == ["1", "8", "f", "16"]
    assert not choose_batch(sg, 4).even  # an explicit --batch K is K per unit
