"""A two-stage chain and an aggregate, counting every execution in a log file."""

import os

import cfcompile as cf
from cfcompile.caching import JsonCacher, Lazy, PickleCacher


def _log(what):
    with open(os.environ["CHAIN_LOG"], "a") as f:
        f.write(what + "\n")


@cf.stage(outputs=["a", Lazy("big")], cachers=[JsonCacher, PickleCacher])
def first(record):
    _log(f"first {record.params.name}")
    return record.params.x * 10, list(range(record.params.x))


@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher])
def second(record, a, big):
    _log(f"second {record.params.name}")
    return a + len(big)


@cf.aggregate(inputs=["b"], outputs=["total"], cachers=[JsonCacher])
def total(record, records, b):
    _log("total")
    return sum(b.values())


def run(param_sets, manager):
    for p in param_sets:
        second(first(cf.Record(manager, p)))
    total(cf.Record(manager, None))
