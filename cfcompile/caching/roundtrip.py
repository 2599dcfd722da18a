"""Does a value survive JSON exactly? What JsonCacher asks before it writes anything.

A value JSON changes (a set, an int-keyed dict, an object written as its ``str()``) would
reach the next job changed while the eager run hands on the original; the difference is found
here, with the place in the value where it is, so the stage can fail with a useful message.
"""

from __future__ import annotations

import math
from typing import Any


def json_difference(value: Any, back: Any, where: str = "value") -> str | None:
    """Where ``back`` (``value`` after a JSON round trip) differs from ``value``, else None.

    Compared as JSON types: a subclass of dict, list, str, int or float counts as its base
    (``np.float64`` or an ``IntEnum`` come back as the number they are), a tuple as a list, and
    NaN equals NaN. bool, int and float are kept apart (``True == 1 == 1.0`` in Python) but JSON
    keeps them apart too, so only a real change is reported.
    """
    if value is None:
        return None if back is None else f"{where}: None becomes {back!r}"
    for kind in (bool, int, float, str):  # bool before int: bool is a subclass of int
        if isinstance(value, kind):
            if type(back) is not kind or not _same_scalar(value, back):
                return f"{where}: {_describe(value)} becomes {_describe(back)}"
            return None
    if isinstance(value, list | tuple):
        if type(back) is not list or len(back) != len(value):
            return f"{where}: {_describe(value)} becomes {_describe(back)}"
        for i, (item, item_back) in enumerate(zip(value, back, strict=True)):
            found = json_difference(item, item_back, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        if type(back) is not dict:
            return f"{where}: {_describe(value)} becomes {_describe(back)}"
        for key in value:
            if not isinstance(key, str):
                return (
                    f"{where}: key {key!r} ({type(key).__name__}) becomes the string {str(key)!r}"
                )
        if len(back) != len(value):
            return f"{where}: {len(value)} keys become {len(back)}"
        for key, item in value.items():
            found = json_difference(item, back.get(str(key)), f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    return f"{where}: {_describe(value)} becomes {_describe(back)}"


def _same_scalar(value: Any, back: Any) -> bool:
    if value == back:
        return True
    return isinstance(value, float) and math.isnan(value) and math.isnan(back)


def _describe(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{type(value).__name__} {text}"
