"""One table of results per selection: ``results/<experiment>-<selection>.jsonl`` and ``.parquet``.

A row per parameter set, its columns in the order a researcher reads them: ``name`` and
``status`` first, then the metrics (every JSON-cached output that is a number or a dict of
numbers, and any output a stage declares with ``metrics=[...]``), then the parameters
(flattened, nested dataclasses dotted), then per-stage wall times (``time_<stage>``), then
provenance (hash, git commit and dirty flag, host, Slurm job id, and ``start``/``end`` as ISO 8601
local times with their UTC offset). Every row has every column (``None`` where a set has no
value), so the JSON lines, the parquet file and a pandas frame all agree on the columns.

Why one file per selection: ``-p study`` and ``-p random`` are different tables, and
collecting one must not overwrite the other. The file is named by the ``-p`` modules
(``selection_label``); ``results/<experiment>.jsonl`` (and ``.parquet``) is in addition a copy
of the most recently written table, whatever its selection, because that is the path the
compiled workflow's final rule declares and existing scripts read.

It runs as the compiled workflow's final rule (the job command's ``--results``; ``python -m
cfcompile.results VERSION`` in Snakefiles compiled before) and behind ``--results``; like a
job, it never imports snakemake, networkx or jinja2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from cfcompile.core.ir import InputKind, InputRef
from cfcompile.core.transaction import replacing, write_atomic
from cfcompile.core.workdir import (
    BEST,
    WorkflowInfo,
    failure_label,
    load_failure,
    resolve_version,
)
from cfcompile.errors import CfcompileError
from cfcompile.runtime import summary
from cfcompile.runtime.workflow_version import WorkflowVersion
from cfcompile.stages import StageKind
from cfcompile.values import is_number, shown

SKIP = ("hash", "overwrite", "hash_representations")

IDENTITY = ("name", "status")
PROVENANCE = ("hash", "git_commit", "git_dirty", "host", "slurm_job_id", "start", "end")
METRIC, PARAM, TIME = "metric", "param", "time"
KIND_ORDER = ("identity", METRIC, PARAM, TIME, "provenance")
"""Column kinds in the order the table shows them: what you compare first comes first."""

MAX_LABEL = 60
"""Longest selection label kept verbatim; longer ones are cut and get a digest."""


class Table(list):
    """The rows of a results table (dicts, every column in column order), plus each column's
    kind, so a view can tell a metric from a parameter without guessing from its name."""

    def __init__(self, rows: list[dict[str, Any]] = (), kinds: dict[str, str] | None = None):
        super().__init__(rows)
        self.kinds: dict[str, str] = dict(kinds or {})

    def columns(self, kind: str | None = None) -> list[str]:
        return [c for c, k in self.kinds.items() if kind is None or k == kind]


def flatten_params(params: Any, prefix: str = "") -> dict[str, Any]:
    """A parameter set's fields by dotted name, each a cell value: numbers, booleans, None and
    short strings as they are, anything else as its repr, short past ``values.SHORT`` (a table
    of sets holding millions of numbers stays a table)."""
    out: dict[str, Any] = {}
    for f in fields(params):
        if f.name in SKIP:
            continue
        value = getattr(params, f.name)
        key = prefix + f.name
        if is_dataclass(value) and not isinstance(value, type):
            out.update(flatten_params(value, key + "."))
        elif isinstance(value, type) or callable(value):
            out[key] = getattr(value, "__qualname__", None) or shown(value)
        else:
            out[key] = shown(value)
    return out


def iso_time(epoch: float | None) -> str | None:
    """Epoch seconds as local ISO 8601 with offset: readable, sortable, and unambiguous."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def _numbers(value: Any) -> dict[str, float] | None:
    if is_number(value):
        return {"": value}
    if isinstance(value, dict) and value and all(is_number(v) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    return None


def _metadata(path: str) -> dict:
    base, ext = os.path.splitext(path)
    for candidate in (base + "_metadata.json", path if path.endswith("_done.json") else None):
        if candidate and os.path.exists(candidate):
            with open(candidate) as f:
                return json.load(f)
    return {}


def collect(version: str) -> Table:
    """One row per parameter set of a compiled version, read from the cache."""
    job = WorkflowVersion(version)
    by_params: dict[str, list] = {}
    for node in job.store.nodes():
        if node.kind != StageKind.AGGREGATE and node.params_key is not None:
            by_params.setdefault(node.params_key, []).append(node)
    parts = [
        _row(job, name, key, by_params[key])
        for name, key in job.info.param_sets
        if key in by_params
    ]
    kinds: dict[str, str] = dict.fromkeys(IDENTITY, "identity")
    for kind in (METRIC, PARAM, TIME):
        for part in parts:
            kinds.update((c, kind) for c in part[kind] if c not in kinds)
    kinds.update((c, "provenance") for c in PROVENANCE if c not in kinds)
    rows = []
    for part in parts:
        merged = {**part["provenance"], **part[TIME], **part[PARAM], **part[METRIC]}
        merged.update(part["identity"])
        rows.append({c: merged.get(c) for c in kinds})
    return Table(rows, kinds)


def _row(job: Any, name: str, key: str, nodes: list) -> dict[str, dict[str, Any]]:
    """A parameter set's values, grouped by kind (``collect`` puts the columns in order)."""
    params = flatten_params(job.params(key))
    params.pop("name", None)
    status = "done"
    times: dict[str, float] = {}
    found: dict[str, list[tuple[str, Any]]] = {}
    metas = []
    for node in nodes:
        targets = node.targets()
        if not all(os.path.exists(t) for t in targets):
            label = failure_label(load_failure(job.workdir, node.id)) or "missing"
            if status in ("done", "missing") and label != "missing":
                status = f"{label} ({node.stage})"
            elif status == "done":
                status = f"missing ({node.stage})"
            continue
        meta = _metadata(targets[0])
        metas.append(meta)
        if "seconds" in meta.get("timing", {}):
            times[f"time_{node.stage}"] = meta["timing"]["seconds"]
        for metric, output, value in _node_metrics(job, node):
            found.setdefault(metric, []).append((output, value))
    return {
        "identity": {"name": name, "status": status},
        METRIC: _named_metrics(found, {*IDENTITY, *PROVENANCE, *params, *times}),
        PARAM: params,
        TIME: times,
        "provenance": _provenance(key, metas),
    }


def _node_metrics(job: Any, node: Any) -> list[tuple[str, str, Any]]:
    """(metric, output, number) of a finished node: every number in its JSON outputs and in
    the outputs its stage declares as ``metrics=``."""
    declared = set(job.spec(node).metrics)
    out = []
    for output in node.outputs:
        if output["name"] in declared:
            name = output["name"]
            ref = InputRef(name, InputKind.ARTIFACT, output["path"], node.id, name)
            value = job.load_input(ref, None)
        elif output["path"].endswith(".json"):
            with open(output["path"]) as f:
                value = json.load(f)
        else:
            continue
        for k, v in (_numbers(value) or {}).items():
            out.append((k or output["name"], output["name"], v))
    return out


def _named_metrics(found: dict[str, list[tuple[str, Any]]], taken: set[str]) -> dict[str, Any]:
    """A column per metric: its own name, or ``output.name`` when two outputs share it or it
    would hide a parameter (say whose it is)."""
    metrics: dict[str, Any] = {}
    for k, values in found.items():
        if len(values) == 1 and k not in taken:
            metrics[k] = values[0][1]
        else:
            for output, v in values:
                metrics[f"{output}.{k}"] = v
    return metrics


def _provenance(key: str, metas: list[dict]) -> dict[str, Any]:
    """Where and when a set's finished nodes ran, from their metadata."""
    timings = [m["timing"] for m in metas if "seconds" in m.get("timing", {})]
    runs = [m.get("manager_run_info", {}) for m in metas]
    hosts = {r["hostname"] for r in runs if r.get("hostname")}
    slurm_ids = {str(r["slurm_job_id"]) for r in runs if r.get("slurm_job_id")}
    first = runs[0] if runs else {}
    return {
        "hash": key,
        "git_commit": first.get("git_commit"),
        "git_dirty": first.get("git_dirty"),
        "host": ",".join(sorted(hosts)) or None,
        "slurm_job_id": ",".join(sorted(slurm_ids)) or None,
        "start": iso_time(min(t["start"] for t in timings)) if timings else None,
        "end": iso_time(max(t["end"] for t in timings)) if timings else None,
    }


# -- files ------------------------------------------------------------------------------------
def selection_label(param_modules: list[str]) -> str:
    """A file-name-safe name for the ``-p`` selection: the module names joined with ``+``.

    ``params.study`` and ``params.random`` give ``study+random``; running without ``-p`` uses
    the experiment file's own ``get_params`` and gives the experiment's name. Characters other
    than letters, digits and ``._+-`` become ``_``; when that changed anything, or the label is
    longer than ``MAX_LABEL``, it is cut and a digest of the full names is appended, so two
    selections never share a file by accident.
    """
    parts = []
    for module in param_modules:
        package, dot, rest = module.partition(".")
        parts.append(rest if dot and package in ("params", "experiments") else module)
    label = "+".join(parts) or "default"
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", label)
    if safe != label or len(safe) > MAX_LABEL:
        digest = hashlib.md5("+".join(param_modules).encode()).hexdigest()[:8]
        safe = f"{safe[: MAX_LABEL - 9]}-{digest}"
    return safe


def table_paths(info: WorkflowInfo) -> tuple[str, str]:
    """(this selection's table, the latest-table copy), as paths without suffix."""
    base = os.path.join(info.results_dir, info.experiment)
    label = selection_label(info.param_modules)
    if info.subset:  # --names/--indices: a subset of the -p selection has a file of its own
        label += "-" + hashlib.md5(info.subset.encode()).hexdigest()[:8]
    return f"{base}-{label}", base


def write_selection(table: list[dict], info: WorkflowInfo) -> list[str]:
    """Write this selection's table, then the ``<experiment>.jsonl``/``.parquet`` copy of it."""
    mine, latest = table_paths(info)
    return write_files(table, mine) + write_files(table, latest)


def write(table: list[dict], directory: str, experiment: str) -> list[str]:
    """``DIRECTORY/EXPERIMENT.jsonl`` and ``.parquet`` alone (the older call; see
    ``write_selection`` for the per-selection files)."""
    return write_files(table, os.path.join(directory, experiment))


def write_files(table: list[dict], base: str) -> list[str]:
    """``base.jsonl`` and ``base.parquet``, each written aside and renamed into place."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    lines = "".join(json.dumps(row, default=str) + "\n" for row in table)
    write_atomic(base + ".jsonl", lines)
    try:
        import pyarrow.parquet as pq
    except ImportError:  # a dependency of cfcompile: only a broken install gets here
        raise CfcompileError(
            f"wrote {base}.jsonl, but not {base}.parquet: pyarrow is not installed "
            "(pip install pyarrow, a dependency of cfcompile)"
        ) from None

    with replacing(base + ".parquet") as tmp:
        pq.write_table(arrow_table(table), tmp)
    return [base + ".jsonl", base + ".parquet"]


def arrow_table(table: list[dict]) -> Any:
    """The rows as a pyarrow table: typed columns, ``start``/``end`` as timestamps.

    A column whose values pyarrow cannot hold in one type (an int in one set, a repr string in
    another) is stored as strings rather than refusing the whole table.
    """
    import pyarrow as pa

    columns = list(dict.fromkeys(k for row in table for k in row))
    data = {}
    with pandas_not_imported():
        for c in columns:
            values = [_plain(row.get(c)) for row in table]
            if c in ("start", "end"):
                values = [None if v is None else datetime.fromisoformat(v) for v in values]
            try:
                data[c] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                data[c] = pa.array([None if v is None else str(v) for v in values], pa.string())
        return pa.table(data) if data else pa.table({"name": pa.array([], pa.string())})


@contextmanager
def pandas_not_imported() -> Iterator[None]:
    """Keep pyarrow from importing pandas while it converts plain Python lists.

    pyarrow imports pandas on its first conversion, to recognise pandas objects among the
    values: 0.19 s of the results job's 0.42 s when the experiment never imported pandas
    (measured here, pyarrow 26). These values are plain (``_plain``), so pandas has nothing to
    recognise; pyarrow tries the import again whenever pandas is really needed (``to_pandas``),
    and a pandas that is already imported is left alone.
    """
    if "pandas" in sys.modules:
        yield
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


class _NoPandas:
    """A meta path finder that refuses ``pandas`` (and only it) while it is installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("cfcompile: pandas is not needed to write the results table")
        return None


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    version = resolve_version(argv[0])
    table = collect(version)
    info = WorkflowInfo.load(version)
    for path in write_selection(table, info):
        print(f"cfcompile results: wrote {path} ({len(table)} rows)")
    lines = best_summary(table, info)
    write_atomic(os.path.join(info.workdir, BEST), "".join(line + "\n" for line in lines))
    print("\n".join(lines))
    return 0


def best_summary(table: Table, info: WorkflowInfo, top: int = 5) -> list[str]:
    """What the end of a run prints: the best configurations, and the command for more."""
    ranking = summary.rank(table, table.kinds)
    if ranking is None or not ranking.ranked:
        return []
    lines = summary.best_lines(ranking, top)
    lines.append(f"all of them, by another metric: {info.command('--results', '--best')} "
                 "[--sort METRIC] [--top N]")  # fmt: skip
    return lines


if __name__ == "__main__":
    sys.exit(main())
