"""Two sets."""

from params import Params


def get_params():
    return [Params(name=f"t{i}", seed=i) for i in range(2)]
