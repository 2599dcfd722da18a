"""What a node asks of a scheduler, and the one rule that merges requests
(``core.resources``)."""

from __future__ import annotations

from cfcompile.core import resources


def test_a_timeout_bounds_the_runtime_a_scheduler_is_asked_for():
    assert resources.node_resources({}, 600) == {"runtime": 11}  # 10 min + a minute to start
    assert resources.node_resources({"runtime": 5}, 600) == {"runtime": 5}  # declared wins
    assert resources.node_resources({"mem_mb": 100}, None) == {"mem_mb": 100}


def test_merge_sums_runtimes_in_sequence_and_takes_the_largest_otherwise():
    a = {"runtime": 10, "mem_mb": 100, "partition": "gpu"}
    b = {"mem_mb": 300, "runtime": 5.5, "gpu": 1, "partition": "cpu"}
    assert resources.merge([a, b], in_sequence=True) == {
        "runtime": 16,  # 15.5, rounded up to whole minutes
        "mem_mb": 300,
        "partition": "gpu",  # strings keep the first value
        "gpu": 1,
    }
    assert resources.merge([a, b], in_sequence=False)["runtime"] == 10
    assert resources.merge([{"mem_mb": 100}], in_sequence=True) == {"mem_mb": 100}  # no runtime
    assert resources.merge([{"mem_mb": True}], in_sequence=False) == {"mem_mb": True}  # no number
