"""How cfcompile looks at a researcher's values: which ones are numbers.

One rule, used wherever a value decides a column, a plot, a statistic or a scheduler request:
``True`` is an ``int`` to Python, but a boolean parameter is a category, a boolean metric is no
score to average, and ``mem_mb=True`` is no memory request.
"""

from __future__ import annotations

from typing import Any


def is_number(value: Any) -> bool:
    """An int or a float (numpy's scalars subclass them), never a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def all_numbers(values: list[Any]) -> bool:
    """Some values, and every one that is not None a number."""
    present = [v for v in values if v is not None]
    return bool(present) and all(is_number(v) for v in present)
