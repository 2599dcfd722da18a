"""The same stage without a GPU declaration: it must see the machine as it is."""

import os

import cfcompile as cf
from cfcompile.caching import JsonCacher


@cf.stage(outputs=["plain"], cachers=[JsonCacher])
def plain(record):
    return {"cvd": os.environ.get("CUDA_VISIBLE_DEVICES")}


def run(param_sets, manager):
    for p in param_sets[:2]:
        plain(cf.Record(manager, p))
