"""CSV, JSON and Markdown that a value cannot break (``views.formats``)."""

from __future__ import annotations

import csv
import io
import json

from cfcompile.views import formats


def test_formats_keep_every_value_in_its_cell():
    rows = [{"name": "a|b\n| injected | row |", "x": 1.5, "ok": True, "none": None}]
    columns = ["name", "x", "ok", "none"]
    md = formats.render(rows, columns, "md").splitlines()
    assert len(md) == 3  # header, rule, one row: the value added no row
    assert md[2].count(" | ") == len(columns) - 1  # nor a column
    assert md[1] == "| --- | ---: | --- | --- |"
    back = list(csv.reader(io.StringIO(formats.render(rows, columns, "csv"))))
    assert back[1] == ["a|b\n| injected | row |", "1.5", "True", ""]
    assert json.loads(formats.render(rows, columns, "json")) == rows
