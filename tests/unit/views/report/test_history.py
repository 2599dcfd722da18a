"""The report's history (``views.report.history``): every report kept under its time, the
latest beside them, and an index of them all, newest first."""

from __future__ import annotations

from datetime import datetime

from cfcompile.views.report import history


def page(summary: str) -> str:
    return f'<html><head><meta name="cfcompile-summary" content="{summary}"></head></html>'


def test_reports_are_kept_by_time_with_the_latest_beside_them(tmp_path):
    folder = str(tmp_path / "reports")
    first = history.write_report(page("3 sets"), folder, "exp", datetime(2026, 1, 2, 3, 4, 5))
    again = history.write_report(page("3 sets, 1 failed"), folder, "exp",
                                 datetime(2026, 1, 2, 3, 4, 5))  # fmt: skip
    later = history.write_report(page("&lt;b&gt;"), folder, "exp", datetime(2026, 1, 3))
    assert first["stamped"].endswith("exp-20260102T030405.html")
    assert again["stamped"].endswith("exp-20260102T030405-2.html")  # same second: both kept
    assert open(later["latest"]).read() == page("&lt;b&gt;")
    assert first["latest"] == later["latest"] == str(tmp_path / "reports" / "exp.html")
    index = open(later["index"]).read()
    order = [index.index(f'href="exp-{s}.html"') for s in
             ("20260103T000000", "20260102T030405-2", "20260102T030405")]  # fmt: skip
    assert order == sorted(order)  # newest first
    assert "3 sets, 1 failed" in index and "2026-01-02 03:04:05" in index
    assert "&lt;b&gt;" in index and "<b>" not in index  # a summary is text, escaped again


def test_the_index_lists_only_stamped_reports(tmp_path):
    (tmp_path / "exp.html").write_text(page("latest"))
    (tmp_path / "notes.html").write_text("")
    assert "no reports yet" in history.render_index(str(tmp_path))
