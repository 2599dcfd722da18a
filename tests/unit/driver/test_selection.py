"""A typed selection (``driver.selection``): what it says of where things are, and the
command a hint prints from it."""

from __future__ import annotations

import shlex

from cfcompile.driver.selection import Selection


def test_a_hint_keeps_every_option_that_says_where_things_are_quoted():
    sel = Selection(
        "big",
        ("big",),
        names=("a b",),
        cache_path="/scratch/my cache",
        prefix="p;rm",
        workflow_dir="wf",
        project="proj",
    )
    line = sel.command("--status")
    assert shlex.split(line) == [
        "cfcompile", "big", "-p", "big", "--names", "a b", "--project", "proj",
        "--cache-path", "/scratch/my cache", "--prefix", "p;rm", "--workflow-dir", "wf",
        "--status",
    ]  # fmt: skip
    assert Selection("iris").command() == "cfcompile iris"
    assert Selection("iris").where_words() == []
