"""``--results`` at the terminal (``views.results_table``): sorted, cut, the columns asked for."""

from __future__ import annotations

import pytest

from cfcompile.errors import CfcompileError
from cfcompile.views import results_table

ROWS = [
    {"name": "a", "status": "done", "acc": 0.5, "lr": 0.1, "hash": "1f", "host": "n1"},
    {"name": "b", "status": "failed (fit)", "acc": None, "lr": 0.01, "hash": "2e", "host": "n1"},
    {"name": "c", "status": "done", "acc": 0.9, "lr": 0.001, "hash": "3d", "host": "n2"},
]


def test_rows_sort_by_a_column_with_missing_values_last_either_way():
    assert [r["name"] for r in results_table.sort_rows(ROWS, "acc", desc=True)] == ["c", "a", "b"]
    assert [r["name"] for r in results_table.sort_rows(ROWS, "acc", desc=False)] == ["a", "c", "b"]
    assert results_table.sort_rows(ROWS, None, desc=True) == ROWS
    with pytest.raises(CfcompileError, match="--sort ac: no such column"):
        results_table.sort_rows(ROWS, "ac", desc=False)


def test_provenance_is_hidden_unless_asked_for_and_a_typo_is_named():
    assert results_table.choose_columns(ROWS, None) == ["name", "status", "acc", "lr"]
    assert results_table.choose_columns(ROWS, ["host", "acc"]) == ["name", "host", "acc"]
    with pytest.raises(CfcompileError, match="--columns acc_: no such column"):
        results_table.choose_columns(ROWS, ["acc_"])
    assert results_table.is_numeric(ROWS, "acc") and not results_table.is_numeric(ROWS, "name")
    assert not results_table.is_numeric([{"flag": True}], "flag")  # booleans are categories


def test_the_table_shows_the_top_rows_with_their_numbers_short(capsys):
    results_table.print_table(results_table.sort_rows(ROWS, "acc", True), top=2)
    out = capsys.readouterr().out
    assert "top 2 of 3 parameter set(s)" in out
    assert "0.9" in out and "failed (fit)" not in out  # the third is cut
    assert "3d" not in out  # the hash is provenance: hidden
    results_table.print_table([{"name": "x", "loss": 1 / 3}])
    short = capsys.readouterr().out
    assert "0.3333" in short and "0.33333" not in short
