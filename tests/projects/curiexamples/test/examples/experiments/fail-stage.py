"""A hyphenated experiment whose stage raises for one parameter set (cfcompile's addition)."""

from dataclasses import dataclass

import curifactory as cf
from curifactory.caching import JsonCacher


@dataclass
class Params(cf.ExperimentParameters):
    a: int = 1


@cf.stage(None, ["double"], [JsonCacher])
def double(record):
    if record.params.a == 2:
        raise ValueError("a must not be 2")
    return record.params.a * 2


def get_params():
    return [Params(name="one"), Params(name="two", a=2), Params(name="three", a=3)]


def run(param_sets, manager):
    return [double(cf.Record(manager, p)) for p in param_sets]
