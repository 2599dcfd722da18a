"""``--results``: the results table at the terminal (rich), sorted and cut as asked.

The columns keep the order ``cfcompile.runtime.results_writer`` gives them (name, status, metrics,
parameters, stage times) so what a sweep is judged by sits next to the name; provenance
(hash, git, host, Slurm job, start/end) is in the files but hidden here unless asked for with
``--columns``. Numeric columns are right-aligned so digits line up for comparison.
"""

from __future__ import annotations

from typing import Any

from cfcompile.errors import CfcompileError
from cfcompile.values import all_numbers

HIDDEN = {"hash", "git_commit", "git_dirty", "start", "end", "host", "slurm_job_id"}


def all_columns(table: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in table for k in row))


def sort_rows(table: list[dict], column: str | None, desc: bool) -> list[dict]:
    """Rows sorted by ``column``; rows without a value stay last whatever the direction."""
    if not column:
        return list(table)
    if not any(column in row for row in table):
        raise CfcompileError(f"--sort {column}: no such column; columns: {all_columns(table)}")
    present = [r for r in table if r.get(column) is not None]
    absent = [r for r in table if r.get(column) is None]
    return sorted(present, key=lambda r: r[column], reverse=desc) + absent


def choose_columns(table: list[dict], columns: list[str] | None) -> list[str]:
    """The columns shown: every visible one, or ``name`` plus those asked for, in that order.

    An unknown name is an error that lists the real ones (a typo should not print a table
    silently missing the column you wanted).
    """
    known = all_columns(table)
    if not columns:
        return [c for c in known if c not in HIDDEN]
    unknown = [c for c in columns if c not in known]
    if unknown and table:
        raise CfcompileError(f"--columns {','.join(unknown)}: no such column; columns: {known}")
    return list(dict.fromkeys(["name", *columns]))


def is_numeric(table: list[dict], column: str) -> bool:
    """A column of numbers (None allowed, booleans are not numbers): right-aligned."""
    return all_numbers([row.get(column) for row in table])


def print_table(rows: list[dict], top: int | None = None, columns: list[str] | None = None) -> None:
    """Print ``rows`` (already sorted), the first ``top`` of them when given."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=250)
    shown = rows[:top] if top is not None else rows
    names = choose_columns(rows, columns)
    title = f"{len(rows)} parameter set(s)"
    if len(shown) < len(rows):
        title = f"top {len(shown)} of {title}"
    t = Table(title=title)
    for c in names:
        t.add_column(c, justify="right" if is_numeric(shown, c) else "left")
    for row in shown:
        t.add_row(*(_cell(row.get(c)) for c in names))
    console.print(t)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
