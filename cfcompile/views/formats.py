"""``--results --format csv|json|md``: the table as text another tool reads (DVC's habits).

CSV through the csv module (quoting as spreadsheets expect), JSON as a list of objects with the
values' own types, Markdown as a pipe table whose cells cannot break it: a ``|`` is escaped
and a line break becomes a space, so a parameter value cannot add a row or a column.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def to_csv(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row.get(c)) for c in columns])
    return out.getvalue()


def to_json(rows: list[dict], columns: list[str]) -> str:
    return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=1, default=str)


def _md(value: Any) -> str:
    text = " ".join(_text(value).splitlines())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(_md(c) for c in columns) + " |"]
    lines.append("|" + "|".join(" ---: " if _numeric(rows, c) else " --- " for c in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_md(row.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _numeric(rows: list[dict], column: str) -> bool:
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


WRITERS = {"csv": to_csv, "json": to_json, "md": to_markdown}


def render(rows: list[dict], columns: list[str], fmt: str) -> str:
    return WRITERS[fmt](rows, columns)
