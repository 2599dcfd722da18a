"""What each stage asked for against what it used, as a table (``views.usage_table``)."""

from __future__ import annotations

from cfcompile.views.usage_table import print_usage


def test_the_usage_table_shows_asked_against_used_per_stage(capsys):
    rows = [
        {"stage": "fit", "tasks": 3, "mem_requested": 4000, "rss_p50": 400.0, "rss_p95": 500.0,
         "time_requested": 60, "wall_p50": 0.0004, "wall_p95": 0.25, "cpu_p50": 2.0,
         "cpu_p95": 300.0},
    ]  # fmt: skip
    print_usage(rows, "--fit-resources would ask for: fit 750 MB")
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("fit"))
    assert line.split() == ["fit", "3", "4000", "MB", "400", "MB", "500", "MB", "60", "min",
                            "<1", "ms", "250", "ms", "2.0", "s", "5", "min"]  # fmt: skip
    assert out.rstrip().endswith("fit 750 MB")
    print_usage([])
    assert capsys.readouterr().out == ""
