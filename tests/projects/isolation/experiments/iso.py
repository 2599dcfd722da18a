"""A two-stage chain and an aggregate; ``first`` fails for the set whose x is $FAIL_X."""

import os

import cfcompile as cf
from cfcompile.caching import JsonCacher


def _log(what):
    with open(os.environ["ISO_LOG"], "a") as f:
        f.write(what + "\n")


@cf.stage(outputs=["a"], cachers=[JsonCacher])
def first(record):
    _log(f"first {record.params.name}")
    if str(record.params.x) == os.environ.get("FAIL_X"):
        raise ValueError(f"x={record.params.x} fails on purpose")
    return record.params.x


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher])
def second(record, a):
    _log(f"second {record.params.name}")
    return a * 2


@cf.aggregate(inputs=["b"], outputs=["total"], cachers=[JsonCacher])
def total(record, records, b):
    _log("total")
    return sum(b.values())


def run(param_sets, manager):
    for p in param_sets:
        second(first(cf.Record(manager, p)))
    total(cf.Record(manager, None))
