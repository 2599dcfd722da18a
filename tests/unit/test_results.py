"""``python -m cfcompile.results VERSION`` (``cfcompile/results.py``): the public path older
Snakefiles name writes the results table of a compiled version."""

from __future__ import annotations

import json
import runpy
import sys

import pytest

import cfcompile.results
from cfcompile.core.workdir import current_version
from cfcompile.runtime import results_writer


def test_the_public_results_path_is_the_results_writer():
    assert cfcompile.results.main is results_writer.main


def test_run_as_a_module_it_writes_the_table_of_a_version(chain, monkeypatch, capsys):
    root, workdir, _ = chain
    monkeypatch.setattr(sys, "argv", ["cfcompile.results", current_version(workdir)])
    monkeypatch.delitem(sys.modules, "cfcompile.results")  # run afresh, as -m does
    with pytest.raises(SystemExit) as ended:
        runpy.run_module("cfcompile.results", run_name="__main__")
    assert ended.value.code == 0
    table = root / "results" / "chain-few.jsonl"  # the selection's, and chain.jsonl the latest
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["s0", "s1", "s2"]  # nothing ran: a row per set still
    assert f"wrote {table} (3 rows)" in capsys.readouterr().out
