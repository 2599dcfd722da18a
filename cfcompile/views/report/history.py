"""The report's history: ``reports/EXP-<time>.html`` kept beside ``EXP.html`` (the latest)
and ``index.html`` (every report, newest first), as curifactory keeps ``reports/index.html``.
"""

from __future__ import annotations

import functools
import html
import os
import re
from datetime import datetime

import jinja2

from cfcompile import templates
from cfcompile.core.transaction import write_atomic

INDEX = "report_index.html.j2"

STAMP = "%Y%m%dT%H%M%S"
STAMPED = re.compile(r"^(?P<experiment>.+)-(?P<stamp>\d{8}T\d{6}(?:-\d+)?)\.html$")


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def write_report(
    page: str, folder: str, experiment: str, now: datetime | None = None
) -> dict[str, str]:
    """Keep the report: ``EXP-<timestamp>.html``, ``EXP.html`` (latest) and ``index.html``.

    Old reports stay, so a sweep's history can be compared; the index is rebuilt from the
    folder each time, so deleting a stamped report removes it from the list. Returns the paths
    as ``{"stamped", "latest", "index"}``.
    """
    now = now or datetime.now().astimezone()
    os.makedirs(folder, exist_ok=True)
    stamp = now.strftime(STAMP)
    stamped = os.path.join(folder, f"{experiment}-{stamp}.html")
    n = 2
    while os.path.exists(stamped):  # two reports in one second: keep both
        stamped = os.path.join(folder, f"{experiment}-{stamp}-{n}.html")
        n += 1
    latest = os.path.join(folder, f"{experiment}.html")
    write_atomic(stamped, page)
    write_atomic(latest, page)
    index = os.path.join(folder, "index.html")
    write_atomic(index, render_index(folder))
    return {"stamped": stamped, "latest": latest, "index": index}


def render_index(folder: str) -> str:
    """The index page of every stamped report in ``folder``, newest first."""
    entries = []
    for name in os.listdir(folder):
        match = STAMPED.match(name)
        if not match:
            continue
        stamp = match["stamp"]
        when = datetime.strptime(stamp[:15], STAMP).strftime("%Y-%m-%d %H:%M:%S")
        entries.append(
            {
                "file": name,
                "stamp": stamp,
                "when": when,
                "experiment": match["experiment"],
                "summary": _summary_of(os.path.join(folder, name)),
            }
        )
    entries.sort(key=lambda e: (e["stamp"][:15], int(e["stamp"][16:] or 1)), reverse=True)
    return _env().from_string(templates.text(INDEX)).render(reports=entries)


def _summary_of(path: str) -> str:
    """The one-line summary a report carries in its head (``<meta name=cfcompile-summary>``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return ""
    match = re.search(r'<meta name="cfcompile-summary" content="([^"]*)"', head)
    return html.unescape(match.group(1)) if match else ""
