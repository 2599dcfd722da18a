"""``--results``: the results table at the terminal (rich), sorted as asked."""

from __future__ import annotations

from typing import Any

from cfcompile.errors import CfcompileError

HIDDEN = {"hash", "git_commit", "git_dirty", "start", "end", "host", "slurm_job_id"}


def sort_rows(table: list[dict], column: str | None, desc: bool) -> list[dict]:
    """Rows sorted by ``column``; rows without a value stay last whatever the direction."""
    if not column:
        return table
    if not any(column in row for row in table):
        columns = sorted({k for row in table for k in row})
        raise CfcompileError(f"--sort {column}: no such column; columns: {columns}")
    present = [r for r in table if r.get(column) is not None]
    absent = [r for r in table if r.get(column) is None]
    return sorted(present, key=lambda r: r[column], reverse=desc) + absent


def print_table(table: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=250)
    columns = [c for c in dict.fromkeys(k for row in table for k in row) if c not in HIDDEN]
    t = Table(title=f"{len(table)} parameter set(s)")
    for c in columns:
        t.add_column(c)
    for row in table:
        t.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(t)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
