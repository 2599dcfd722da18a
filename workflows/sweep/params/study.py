"""A 3x3 grid over degree and l2, each configuration repeated with 3 seeds (27 sets)."""

from cfcompile.sweeps import grid, repeat
from params import Params


def get_params():
    sets = []
    for config in grid(Params(name="grid")):
        sets.extend(repeat(config, k=3))
    return sets
