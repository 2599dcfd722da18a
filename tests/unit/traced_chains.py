"""A traced graph several test folders share: ``count`` chains ga -> gb (ga declares 30
minutes) and the aggregate gm over them, each set's hash preset to its index + 1."""

from __future__ import annotations

from helpers import trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher


@cf.stage(outputs=["a"], cachers=[JsonCacher], resources={"runtime": 30})
def ga(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher])
def gb(record, a):
    return 1


@cf.aggregate(inputs=["b"], outputs=["m"], cachers=[JsonCacher])
def gm(record, records, b):
    return 1


def graph_of(tmp_path, count: int):
    def run(sets, manager):
        for p in sets:
            gb(ga(cf.Record(manager, p)))
        gm(cf.Record(manager, None))

    sets = [cf.ExperimentParameters(name=f"p{i}") for i in range(count)]
    for i, p in enumerate(sets):
        p.hash = f"{i + 1:x}"
    return trace_graph(run, sets, tmp_path)[0]
