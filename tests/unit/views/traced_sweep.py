"""A small experiment the views tests share: prepare -> fit -> score for four sets (x in 1, 3;
seed in 0, 1), prepare sleeping 0.05 s per x so that timings differ."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.reporting import JsonReporter


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0
    seed: int = 0


@cf.stage(outputs=["data"], cachers=[JsonCacher])
def prepare(record):
    time.sleep(0.05 * record.params.x)
    return [record.params.x]


@cf.stage(inputs=["data"], outputs=["model"], cachers=[JsonCacher])
def fit(record, data):
    record.report(JsonReporter({"x": record.params.x}, name="fitted"))
    return data


@cf.stage(inputs=["data", "model"], outputs=["score"], cachers=[JsonCacher])
def score(record, data, model):
    return {"acc": record.params.x / 10}


def run(sets, manager):
    for p in sets:
        score(fit(prepare(cf.Record(manager, p))))


SETS = [P(name=f"x{x}_seed{s}", x=x, seed=s) for x in (1, 3) for s in (0, 1)]
