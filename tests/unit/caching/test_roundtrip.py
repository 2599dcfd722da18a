"""Whether a value survives JSON exactly, and where not (``caching.roundtrip``)."""

from __future__ import annotations

import json

from cfcompile.caching import roundtrip


def test_roundtrip_names_where_a_value_changes():
    assert roundtrip.json_difference({"a": [1, 2.5, "x"]}, {"a": [1, 2.5, "x"]}) is None
    assert roundtrip.json_difference((1, 2), [1, 2]) is None  # tuples come back as lists
    assert roundtrip.json_difference(float("nan"), float("nan")) is None
    where = roundtrip.json_difference({"k": [1, {2}]}, json.loads(json.dumps({"k": [1, "{2}"]})))
    assert where is not None and "k" in where
