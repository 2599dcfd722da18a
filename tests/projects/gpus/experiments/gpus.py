"""A CPU stage, then a stage that asks for one GPU: each records the CUDA_VISIBLE_DEVICES it
saw and when it ran (GPU_SLEEP seconds of sleep stand in for training)."""

import os
import time

import cfcompile as cf
from cfcompile.caching import JsonCacher


def seen() -> dict:
    return {"cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}


@cf.stage(outputs=["prepared"], cachers=[JsonCacher])
def prep(record):
    return seen()


@cf.stage(inputs=["prepared"], outputs=["trained"], cachers=[JsonCacher], resources={"gpu": 1})
def train(record, prepared):
    start = time.time()
    time.sleep(float(os.environ.get("GPU_SLEEP", "1")))
    return {**seen(), "start": start, "end": time.time()}


def run(param_sets, manager):
    for p in param_sets:
        train(prep(cf.Record(manager, p)))
