"""Configurations over repetitions, counted honestly: the statistics every view prints.

A sweep's sets that differ only in a repetition field (a seed) are one configuration. Its
mean +- std per metric is over the sets that finished, and says so: ``n`` is that count,
failures are counted apart (``2 of 3 seeds, 1 failed``), and one finished set has no std to
show. The report, ``--results --best`` and the end of a run all read these numbers, so they
agree. Plain Python (no rich, no pandas): the end of a run prints them from the Snakemake
process, and the results job may too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from cfcompile.values import all_numbers, is_number, printable

REPEAT_FIELD = re.compile(r"(^|[._])(\w*seed|rep|repeat|repetition|trial)$", re.IGNORECASE)
"""Parameters whose sets are repetitions of one configuration (``repeat(..., field="seed")``)."""
LOWER_IS_BETTER = re.compile(r"(loss|err|error|mse|rmse|mae|nll|perplexity|regret|cost)", re.I)
"""Metric names ranked lowest first when no direction is given (the rest: highest first)."""
PARAM, METRIC = "param", "metric"


@dataclass
class Stat:
    mean: float
    std: float | None  # None: one finished set, no spread to show
    n: int

    def text(self, digits: int = 4) -> str:
        if self.std is None:
            return f"{self.mean:.{digits}g} (n=1)"
        return f"{self.mean:.{digits}g} ± {self.std:.2g}"


@dataclass
class Config:
    """One configuration: its sets, how many finished or failed, and a Stat per metric."""

    name: str
    row: dict[str, Any]  # its first set's row: the configuration's parameter values
    sets: int
    finished: int
    failed: int
    stats: dict[str, Stat] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def counts(self, over: list[str]) -> str:
        """``3 seeds``, or ``2 of 3 seeds, 1 failed`` (``1 not run`` for sets without a result)."""
        what = _plural(over[-1].rsplit(".", 1)[-1] if over else "set", self.sets)
        if self.finished == self.sets:
            return f"{self.sets} {what}"
        if not self.finished and self.failed == self.sets:
            return (
                f"all {self.sets} {what} failed" if self.sets > 1 else f"{self.sets} {what} failed"
            )
        text = f"{self.finished} of {self.sets} {what}"
        if self.failed:
            text += f", {self.failed} failed"
        missing = self.sets - self.finished - self.failed
        if missing:
            text += f", {missing} not run"
        return text


def _plural(word: str, n: int) -> str:
    return word if n == 1 else word + "s"


def _distinct(values: list[Any]) -> list[Any]:
    return list(
        dict.fromkeys(json.dumps(v, default=str, sort_keys=True) for v in values if v is not None)
    )


def split_parameters(
    rows: list[dict], params: list[str], over: list[str] | None = None
) -> tuple[list[str], list[str], dict[str, Any]]:
    """(varied, repetition fields, constant values) among the parameter columns.

    A parameter is varied when it takes more than one value. A varied seed-like one
    (``REPEAT_FIELD``), or one named in ``over`` (``--over seed``), is a repetition field
    instead: sets differing only there are repeats of one configuration.
    """
    varied, repeats, constant = [], [], {}
    for column in params:
        values = [row.get(column) for row in rows]
        distinct = _distinct(values)
        if len(distinct) <= 1:
            constant[column] = next((v for v in values if v is not None), None)
        elif (over is not None and _named(column, over)) or (
            over is None and REPEAT_FIELD.search(column)
        ):
            repeats.append(column)
        else:
            varied.append(column)
    return varied, repeats, constant


def _named(column: str, over: list[str]) -> bool:
    return column in over or column.rsplit(".", 1)[-1] in over


def finished(row: dict) -> bool:
    return str(row.get("status", "done")).split(" (")[0] == "done"


def failed(row: dict) -> bool:
    return str(row.get("status", "")).split(" (")[0] in ("failed", "timed out")


def configurations(
    rows: list[dict], params: list[str], repeats: list[str], metrics: list[str]
) -> list[Config]:
    """Rows grouped by every parameter but the repetition fields, in first-seen order.

    The std is the population std (numpy's default), as ``cfcompile.sweeps.mean_std``; a
    metric's n counts the finished sets that have it, so a failed seed never hides in the mean.
    """
    others = [c for c in params if c not in repeats]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        key = json.dumps([row.get(c) for c in others], default=str)
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        name = str(members[0].get("name"))
        for f in repeats:
            name = name.removesuffix(f"_{f.rsplit('.', 1)[-1]}{members[0].get(f)}")
        done = [r for r in members if finished(r)]
        config = Config(
            name=name,
            row=members[0],
            sets=len(members),
            finished=len(done),
            failed=sum(1 for r in members if failed(r)),
            names=[str(r.get("name")) for r in members],
        )
        for metric in metrics:
            values = [float(r[metric]) for r in done if is_number(r.get(metric))]
            if values:
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
                config.stats[metric] = Stat(mean, std if len(values) > 1 else None, len(values))
        out.append(config)
    return out


def numeric_metrics(rows: list[dict], metrics: list[str]) -> list[str]:
    return [m for m in metrics if all_numbers([r.get(m) for r in rows])]


def direction(metric: str, desc: bool | None) -> bool:
    """Whether the largest comes first: as asked, else from the metric's name."""
    if desc is not None:
        return desc
    return not LOWER_IS_BETTER.search(metric)


def best(configs: list[Config], metric: str, desc: bool) -> list[Config]:
    """Configurations ranked by their mean ``metric``; those without it last, in order."""
    have = [c for c in configs if metric in c.stats]
    lack = [c for c in configs if metric not in c.stats]
    return sorted(have, key=lambda c: c.stats[metric].mean, reverse=desc) + lack


@dataclass
class Ranking:
    """Configurations ranked by one metric, and what the ranking was made of."""

    metric: str
    largest: bool  # the largest mean comes first
    metrics: list[str]
    varied: list[str]
    repeats: list[str]
    configs: list[Config]

    @property
    def ranked(self) -> int:
        return sum(1 for c in self.configs if self.metric in c.stats)


def rank(
    rows: list[dict],
    kinds: dict[str, str],
    metric: str | None = None,
    desc: bool | None = None,
    over: list[str] | None = None,
) -> Ranking | None:
    """The configurations of a results table ranked by ``metric`` (default: the first numeric
    metric), largest first when ``desc`` (default: from the metric's name); None when there is
    no numeric metric. An unknown metric is a ValueError naming the real ones."""
    params = [c for c, k in kinds.items() if k == PARAM]
    metrics = numeric_metrics(rows, [c for c, k in kinds.items() if k == METRIC])
    if metric is not None and metric not in metrics:
        raise ValueError(f"{metric} is not a numeric metric; metrics: {', '.join(metrics)}")
    if not metrics or not rows:
        return None
    metric = metric or metrics[0]
    largest = direction(metric, desc)
    varied, repeats, _ = split_parameters(rows, params, over)
    configs = best(configurations(rows, params, repeats, metrics), metric, largest)
    return Ranking(metric, largest, metrics, varied, repeats, configs)


def best_rows(ranking: Ranking, top: int | None = None) -> list[dict[str, Any]]:
    """One flat row per configuration (rank, its varied values, counts, mean and std per
    metric), for ``--results --best --format csv|json|md``."""
    out = []
    for i, c in enumerate(ranking.configs[:top] if top else ranking.configs, 1):
        row: dict[str, Any] = {"rank": i, "configuration": c.name}
        row.update({p: c.row.get(p) for p in ranking.varied})
        row.update(finished=c.finished, sets=c.sets, failed=c.failed)
        for m in ranking.metrics:
            st = c.stats.get(m)
            row[f"{m}_mean"] = None if st is None else st.mean
            row[f"{m}_std"] = None if st is None else st.std
        out.append(row)
    return out


def best_lines(ranking: Ranking, top: int = 5) -> list[str]:
    """The top configurations by mean +- std, as plain aligned lines for the terminal."""
    shown = [c for c in ranking.configs if ranking.metric in c.stats][:top]
    order = "highest" if ranking.largest else "lowest"
    over = f" over {', '.join(ranking.repeats)}" if ranking.repeats else " (no repetitions)"
    lines = [
        f"best {len(shown)} of {len(ranking.configs)} configuration(s) by {ranking.metric} "
        f"({order} first), mean ± std{over}:"
    ]
    cells = []
    for i, c in enumerate(shown, 1):
        values = printable(", ".join(f"{p}={c.row.get(p)}" for p in ranking.varied) or c.name)
        scores = [f"{m} {c.stats[m].text()}" if m in c.stats else f"{m} -"
                  for m in ranking.metrics[:4]]  # fmt: skip
        cells.append([f"{i}.", values, *scores, f"({c.counts(ranking.repeats)})"])
    if cells:  # every column aligned, the counts last
        widths = [max(len(cell[i]) for cell in cells) for i in range(len(cells[0]) - 1)]
        for cell in cells:
            head = "  ".join(x.ljust(w) for x, w in zip(cell[:-1], widths, strict=True))
            lines.append(f"  {head}  {cell[-1]}")
    unranked = [c for c in ranking.configs if ranking.metric not in c.stats]
    if unranked:
        named = "; ".join(
            f"{printable(', '.join(f'{p}={c.row.get(p)}' for p in ranking.varied) or c.name)} "
            f"({c.counts(ranking.repeats)})"
            for c in unranked[:5]
        )
        more = f" and {len(unranked) - 5} more" if len(unranked) > 5 else ""
        lines.append(f"  not ranked, no finished set with {ranking.metric}: {named}{more}")
    return lines
