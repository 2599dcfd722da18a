"""Which values are numbers (``cfcompile.values``)."""

from __future__ import annotations

from cfcompile import values


def test_is_number_treats_booleans_as_categories():
    assert values.is_number(3) and values.is_number(2.5)
    assert not values.is_number(True) and not values.is_number("3") and not values.is_number(None)
    assert values.all_numbers([1, None, 2.0]) and not values.all_numbers([None])
    assert not values.all_numbers([1, False])
