from params import Params


def get_params():
    return [Params(name="a", x=1), Params(name="b", x=2)]
