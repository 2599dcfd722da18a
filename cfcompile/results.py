"""One table of results: ``results/<experiment>.jsonl`` plus parquet (or CSV without pyarrow).

A row per parameter set: its parameters (flattened, nested dataclasses dotted), its metrics
(every JSON-cached output that is a number or a dict of numbers, and any output a stage
declares with ``metrics=[...]``), per-stage wall times (``time_<stage>``), and provenance (git
commit and dirty flag, host, Slurm job id, start/end). It runs as the compiled workflow's final
rule (``python -m cfcompile.results WORKDIR``) and behind ``--results``; like a job, it never
imports snakemake, networkx or jinja2.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import fields, is_dataclass
from typing import Any

from cfcompile.ir import InputRef
from cfcompile.job import Job
from cfcompile.publish import replacing, write_atomic
from cfcompile.workdir import WorkflowInfo, failure_label, load_failure, resolve_version

SKIP = ("hash", "overwrite", "hash_representations")


def flatten_params(params: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(params):
        if f.name in SKIP:
            continue
        value = getattr(params, f.name)
        key = prefix + f.name
        if is_dataclass(value) and not isinstance(value, type):
            out.update(flatten_params(value, key + "."))
        elif value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, type) or callable(value):
            out[key] = getattr(value, "__qualname__", repr(value))
        else:
            out[key] = repr(value)
    return out


def _numbers(value: Any) -> dict[str, float] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return {"": value}
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
    ):
        return {str(k): v for k, v in value.items()}
    return None


def _metadata(path: str) -> dict:
    base, ext = os.path.splitext(path)
    for candidate in (base + "_metadata.json", path if path.endswith("_done.json") else None):
        if candidate and os.path.exists(candidate):
            with open(candidate) as f:
                return json.load(f)
    return {}


def collect(version: str) -> list[dict[str, Any]]:
    """One row per parameter set of a compiled version, read from the cache."""
    job = Job(version)
    by_params: dict[str, list] = {}
    for node in job.store.nodes():
        if node.kind != "aggregate" and node.params_key is not None:
            by_params.setdefault(node.params_key, []).append(node)
    table = []
    for name, key in job.info.param_sets:
        if key in by_params:
            table.append(_row(job, name, key, by_params[key]))
    return table


def _row(job: Any, name: str, key: str, nodes: list) -> dict[str, Any]:
    params = flatten_params(job.params(key))
    params.pop("name", None)
    row: dict[str, Any] = {"name": name, "hash": key, "status": "done", **params}
    metrics: dict[str, Any] = {}
    starts, ends, hosts, slurm_ids = [], [], set(), set()
    for node in nodes:
        stage = node.stage
        targets = node.targets()
        if not all(os.path.exists(t) for t in targets):
            status = failure_label(load_failure(job.workdir, node.id)) or "missing"
            if row["status"] in ("done", "missing") and status != "missing":
                row["status"] = f"{status} ({stage})"
            elif row["status"] == "done":
                row["status"] = f"missing ({stage})"
            continue
        meta = _metadata(targets[0])
        timing = meta.get("timing", {})
        if "seconds" in timing:
            row[f"time_{stage}"] = timing["seconds"]
            starts.append(timing["start"])
            ends.append(timing["end"])
        run = meta.get("manager_run_info", {})
        if run.get("hostname"):
            hosts.add(run["hostname"])
        if run.get("slurm_job_id"):
            slurm_ids.add(str(run["slurm_job_id"]))
        row.setdefault("git_commit", run.get("git_commit"))
        row.setdefault("git_dirty", run.get("git_dirty"))
        declared = set(job.spec(node).metrics)
        for out in node.outputs:
            if out["name"] in declared:
                ref = InputRef(out["name"], "artifact", out["path"], node.id, out["name"])
                value = job.load_input(ref, None)
            elif out["path"].endswith(".json"):
                with open(out["path"]) as f:
                    value = json.load(f)
            else:
                continue
            nums = _numbers(value)
            if nums is not None:
                for k, v in nums.items():
                    metrics.setdefault(k or out["name"], []).append((out["name"], v))
    for k, found in metrics.items():
        if len(found) == 1 and k not in row:
            row[k] = found[0][1]
        else:
            for output, v in found:
                row[f"{output}.{k}"] = v
    row["host"] = ",".join(sorted(hosts)) or None
    row["slurm_job_id"] = ",".join(sorted(slurm_ids)) or None
    row["start"] = min(starts) if starts else None
    row["end"] = max(ends) if ends else None
    return row


def write(table: list[dict], directory: str, experiment: str) -> list[str]:
    """JSON lines, and parquet (pyarrow) or CSV; each written aside and renamed into place."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, experiment)
    lines = "".join(json.dumps(row, default=str) + "\n" for row in table)
    write_atomic(base + ".jsonl", lines)
    written = [base + ".jsonl"]
    columns = list(dict.fromkeys(k for row in table for k in row))
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        with replacing(base + ".csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(table)
        return [*written, base + ".csv"]
    data = {c: [_plain(row.get(c)) for row in table] for c in columns}
    with replacing(base + ".parquet") as tmp:
        pq.write_table(pa.table(data), tmp)
    return [*written, base + ".parquet"]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    version = resolve_version(argv[0])
    table = collect(version)
    info = WorkflowInfo.load(version)
    for path in write(table, info.results_dir, info.experiment):
        print(f"cfcompile results: wrote {path} ({len(table)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
