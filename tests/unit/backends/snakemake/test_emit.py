"""The Snakefile's building blocks (quoting, labels, rules), and the emitted Snakefile compared
line by line with a reviewed copy (tests/golden/) (``backends.snakemake.emit``).

A change to the emitter shows up in the golden test as a diff to read, not as a side effect
found later. After a deliberate change, rewrite the copies with
``python tests/golden/snakefiles.py`` and review the diff; this test never writes them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
from helpers import REPO, trace_graph

import cfcompile as cf
from cfcompile.backends.snakemake import emit
from cfcompile.caching import JsonCacher
from cfcompile.compiler.grouping import batch_units
from cfcompile.errors import CfcompileError

sys.path.insert(0, str(REPO / "tests" / "golden"))
import snakefiles  # noqa: E402


def test_snakefile_literals_cannot_become_code_or_wildcards():
    assert emit.lit("a'b\n") == repr("a'b\n")
    assert emit.brace("{x}") == "{{x}}"


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


@cf.stage(outputs=["a"], cachers=[JsonCacher], resources={"mem_mb": 300, "runtime": 2})
def one(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher], threads=2)
def two(record, a):
    return a


def run(sets, manager):
    for p in sets:
        two(one(cf.Record(manager, p)))


def test_one_rule_per_stage_or_unit_asking_for_its_largest_job(tmp_path):
    names = ["plain", "\x1b[31mred", "x" * 100]
    sg, _ = trace_graph(run, [P(name=n, x=i) for i, n in enumerate(names)], tmp_path)
    units = batch_units(sg, 2)
    rules, inputs, targets = emit.plan_rules(sg, sg.info.workdir, units)
    (unit_rule,) = [r for r in rules if r["name"] == emit.BATCH_RULE]
    assert unit_rule["threads"] == 2  # the largest member's threads
    # two chains of 2 minutes; a retried job (attempt 2) asks for twice as much
    assert unit_rule["resources"] == (
        "mem_mb=lambda wildcards, attempt: 300 * attempt, "
        "runtime=lambda wildcards, attempt: 4 * attempt"
    )
    assert sorted(inputs[emit.BATCH_RULE]) == sorted(units)
    assert len(targets) == len(units)
    label = emit.unit_label(units["0"])
    assert label.startswith("one, two [2 parameter sets: plain, ?[31mred")  # no escape codes


def test_a_brace_or_control_character_in_a_path_is_refused(tmp_path):
    sg, _ = trace_graph(run, [P(name="a")], tmp_path)
    with pytest.raises(CfcompileError, match="wildcard"):
        emit.check_paths(sg, str(tmp_path / "wf{x}"))
    with pytest.raises(CfcompileError, match="control character"):
        emit.check_paths(sg, str(tmp_path / "wf\nx"))


@pytest.mark.parametrize("name", sorted(snakefiles.CASES))
def test_snakefile_matches_golden(name, tmp_path):
    path = snakefiles.HERE / name
    assert snakefiles.emitted(name, tmp_path) == path.read_text(), (
        f"the Snakefile differs from {path}: run python tests/golden/snakefiles.py and read "
        "the diff"
    )
