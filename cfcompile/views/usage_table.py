"""Requested against used, per stage: what ``--status`` and ``--dry-run`` show after a Slurm run.

Rows are plain dicts (``backends.slurm.usage.rows``), so this view knows nothing of sacct.
"""

from __future__ import annotations


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MB"


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.3g} min"


def print_usage(rows: list[dict], hint: str | None = None) -> None:
    """One row per stage: memory requested, peak used p50/p95; time limit, wall p50/p95; CPU."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(width=250, highlight=False, soft_wrap=True)
    table = Table(box=None, pad_edge=False, title_justify="left")
    gpus = any(r.get("gpu_h_requested") or r.get("gpu_h_used") for r in rows)
    names = ("stage", "tasks", "mem asked", "MaxRSS p50", "p95", "time asked", "node p50",
             "p95", "CPU p50", "p95")  # fmt: skip
    for name in names + (("GPU-h asked", "GPU-h used") if gpus else ()):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for r in rows:
        asked = "-" if r["time_requested"] is None else f"{r['time_requested']:.0f} min"
        table.add_row(
            r["stage"],
            str(r["tasks"]),
            _mb(r["mem_requested"]),
            _mb(r["rss_p50"]),
            _mb(r["rss_p95"]),
            asked,
            _time(r["wall_p50"]),
            _time(r["wall_p95"]),
            _time(r["cpu_p50"]),
            _time(r["cpu_p95"]),
            *((f"{r['gpu_h_requested']:.3f}", f"{r['gpu_h_used']:.4f}") if gpus else ()),
        )
    console.print("\nSlurm usage per stage (requested vs used; a packed task's peak memory "
                  "counts for each stage it ran, its CPU time is split over its nodes by their "
                  "wall times" + ("; GPU-hours: GPUs held x time, asked and used" if gpus
                                  else "") + "):")  # fmt: skip
    console.print(table)
    if hint:
        console.print(hint)
