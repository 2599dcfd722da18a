"""Eight sets, one GPU stage each."""

from params import Params


def get_params():
    return [Params(name=f"s{i}", seed=i) for i in range(8)]
