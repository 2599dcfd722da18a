"""What changed since a cache was written (``compiler.explain``)."""

from __future__ import annotations

from cfcompile.compiler import explain


def test_params_difference_names_each_changed_field():
    old = {"name": "a", "lr": "0.1", "data": {"n": "10"}, "IGNORED_PARAMS": {"gpus": "1"}}
    new = {"name": "b", "lr": "0.2", "data": {"n": "10", "noise": "0.5"}}
    assert explain.params_difference(old, new) == [
        "lr: 0.1 -> 0.2",
        "data.noise: (absent) -> 0.5",
        "gpus: 1 (not hashed) -> (absent)",
    ]


def test_a_sample_is_spread_over_the_whole_list():
    items = list(range(100))
    assert explain._spread(items, 5) == [0, 25, 50, 74, 99]  # noqa: SLF001 - the rule itself
    assert explain._spread(items[:3], 5) == [0, 1, 2]  # noqa: SLF001
