"""Random search: 6 of the 27 (degree, l2, noise) configurations, reproducible from a seed."""

from cfcompile.sweeps import random_search, search
from params import Data, Params


def get_params():
    base = Params(name="rand", data=Data(n_points=100, noise=search(0.1, 0.3, 0.5)))
    return random_search(base, n=6, seed=7)
