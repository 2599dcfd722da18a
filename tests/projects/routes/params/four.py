"""Four sets."""

from params import Params


def get_params():
    return [Params(name=f"s{i}", x=i) for i in range(4)]
