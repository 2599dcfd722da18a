"""Which nodes would run, and why, from the graph and the cache only (``compiler.plan``)."""

from __future__ import annotations

import os

from cfcompile.compiler.plan import Reason, Status, plan

from ..traced_chains import graph_of


def test_plan_reasons_from_the_cache(tmp_path):
    sg = graph_of(tmp_path, 2)
    first = plan(sg)
    assert {p.reason for p in first.values()} == {Reason.MISSING, Reason.UPSTREAM}
    for n in sg.nodes():  # everything cached (an output counts with its metadata) ...
        for t in n.targets():
            open(t, "w").close()
            open(t.removesuffix(".json") + "_metadata.json", "w").close()
    assert all(p.status != Status.RUN for p in plan(sg).values())
    a0 = next(n for n in sg.nodes() if n.stage == "ga")
    os.remove(a0.targets()[0])
    staging = os.path.join(os.path.dirname(a0.targets()[0]), ".cfcompile-tmp-x")
    os.makedirs(staging)
    open(os.path.join(staging, os.path.basename(a0.targets()[0])), "w").close()
    again = plan(sg)
    assert again[a0.id].reason == Reason.INCOMPLETE
    assert again[("gb", a0.hash)].reason == Reason.UPSTREAM and again[("gm", sg.nodes()[-1].hash)]
    a0.force = True
    assert plan(sg)[a0.id].reason == Reason.OVERWRITE
