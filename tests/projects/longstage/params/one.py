"""One set; LONG_STEPS sets its number of steps (the sets' hash follows)."""

import os

from params import Params


def get_params():
    return [Params(name="long", steps=int(os.environ.get("LONG_STEPS", "10")))]
