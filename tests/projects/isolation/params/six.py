"""Six sets; the one whose x is $FAIL_X fails in its first stage."""

from params import Params


def get_params():
    return [Params(name=f"s{i}", x=i) for i in range(6)]
