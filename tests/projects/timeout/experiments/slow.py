"""One stage with a 1 s time limit; the set with x == 2 sleeps past it."""

import time

import cfcompile as cf
from cfcompile.caching import JsonCacher


@cf.stage(outputs=["score"], cachers=[JsonCacher], timeout=1)
def work(record):
    if record.params.x == 2:
        time.sleep(30)
    return {"acc": record.params.x / 10, "loss": 1.0}


def run(param_sets, manager):
    for p in param_sets:
        work(cf.Record(manager, p))
