"""A traced sweep the packing tests share: prep -> fit -> score per set, an aggregate over
the scores, then rank per set (a stage after an aggregate); and a strict site's limits."""

from __future__ import annotations

from helpers import trace_graph

import cfcompile as cf
from cfcompile.backends.slurm.limits import Limit, SiteLimits
from cfcompile.caching import JsonCacher
from cfcompile.compiler.plan import plan


@cf.stage(outputs=["a"], cachers=[JsonCacher])
def prep(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher])
def fit(record, a):
    return a


@cf.stage(inputs=["b"], outputs=["c"], cachers=[JsonCacher], resources={"runtime": 30})
def score(record, b):
    return b


@cf.aggregate(inputs=["c"], outputs=["m"], cachers=[JsonCacher])
def compare(record, records, c):
    return 1


@cf.stage(inputs=["c", "m"], outputs=["d"], cachers=[JsonCacher])
def rank(record, c, m):
    return 1


def sweep(sets, manager):
    records = [score(fit(prep(cf.Record(manager, p)))) for p in sets]
    agg = compare(cf.Record(manager, None), records)
    for r in records:
        r.state["m"] = agg.state["m"]
        rank(r)


def traced(tmp_path, n):
    params = [cf.ExperimentParameters(name=f"s{i}") for i in range(n)]
    for i, p in enumerate(params):
        p.hash = f"{i:04x}"
    sg, _ = trace_graph(sweep, params, tmp_path)
    return sg, plan(sg)


STRICT = SiteLimits(50, [Limit("MaxSubmitJobs of association root/root", 120, 0)])
