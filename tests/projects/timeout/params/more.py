from params import Params


def get_params():
    return [Params(name="m9", x=9)]
