"""``Node`` and the rules that belong to one node (``core.ir``): its resources, its row."""

from __future__ import annotations

from cfcompile.core.ir import InputRef, Node, unit_resources


def node(stage: str, h: str, **kw) -> Node:
    return Node(stage, h, "stage", "m:f", h, h, [], [], None, **kw)


def test_unit_resources_sum_runtime_and_take_the_largest_of_the_rest():
    nodes = [
        node("a", "1", resources={"runtime": 30, "mem_mb": 500}),
        node("b", "1", resources={"runtime": 20, "mem_mb": 2000, "gpu": 1}),
        node("c", "1", timeout=600),  # no runtime: the timeout bounds it (11 minutes)
    ]
    assert unit_resources(nodes) == {"runtime": 61, "mem_mb": 2000, "gpu": 1}
    assert unit_resources([node("a", "1")]) == {}


def test_timeout_gives_a_runtime_with_a_minute_to_spare():
    assert node("a", "1", timeout=600).runtime_minutes() == 11
    assert node("a", "1", timeout=61).runtime_minutes() == 3
    assert node("a", "1", timeout=600, resources={"runtime": 5}).runtime_minutes() == 5
    assert node("a", "1").runtime_minutes() is None


def test_node_row_round_trips_typed():
    n = node("a", "ab", resources={"mem_mb": 1}, force=True, order=4)
    n.inputs = [InputRef("x", "artifact", "/p", node=("z", "ab"), output="x", record=0)]
    back = Node.from_row(n.to_row())
    assert back == n and back.inputs[0].node == ("z", "ab")
