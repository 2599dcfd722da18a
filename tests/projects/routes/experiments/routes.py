"""What a node sees of its process: module-level generators, the environment and files read at
import, a helper module outside the project, and which ``random`` it got.

``ROUTES_DATA`` names a data file read at import; ``helper_outside`` lives in a folder outside
the project, on ``PYTHONPATH``. Each node returns what it saw.
"""

import gc
import os
import random

import helper_outside
import numpy as np

import cfcompile as cf
from cfcompile.caching import JsonCacher

SEEDED = random.Random(42)
UNSEEDED = random.Random()
NP_SEEDED = np.random.default_rng(7)
NP_UNSEEDED = np.random.default_rng()
FOO = os.environ.get("ROUTES_FOO")
with open(os.environ["ROUTES_DATA"]) as f:
    DATA = f.read().strip()


@cf.stage(outputs=["seen"], cachers=[JsonCacher])
def probe(record):
    return {
        "seeded": SEEDED.random(),
        "unseeded": UNSEEDED.random(),
        "np_seeded": float(NP_SEEDED.random()),
        "np_unseeded": float(NP_UNSEEDED.random()),
        "global_unseeded": random.random(),
        "from_params": random.Random(record.params.x).random(),
        "foo": FOO,
        "foo_now": os.environ.get("ROUTES_FOO"),
        "helper": helper_outside.VERSION,
        "data": DATA,
        "random_module": random.__file__,
        "shadowed": hasattr(random, "SHADOW"),
        "gc_threshold": list(gc.get_threshold()),  # the compile relaxes its own collector
        "gc_frozen": gc.get_freeze_count(),
    }


@cf.stage(inputs=["seen"], outputs=["again"], cachers=[JsonCacher])
def after(record, seen):
    return {"seeded": SEEDED.random(), "unseeded": UNSEEDED.random()}


def run(param_sets, manager):
    for p in param_sets:
        after(probe(cf.Record(manager, p)))
