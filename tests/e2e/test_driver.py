"""The pipeline without the command line, as a notebook drives it (``cfcompile.driver``): the
bundled iris example compiled, dry-run, run through Snakemake and run eagerly, each from a
``Selection`` in this process; docs/driver.md shows the same calls."""

from __future__ import annotations

import json
import os

from cfcompile.driver import ReuseMode, Selection, compile_workflow, dry_run, run, run_eager


def test_iris_from_python_compile_dry_run_run_and_eager(iris_copy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing relies on the working directory: project= says it
    sel = Selection("iris", ("base",), project=str(iris_copy))
    summary = dry_run(sel)
    to_run = summary["totals"]["run"]
    assert to_run == len(summary["nodes"]) > 0  # a fresh copy: everything runs
    snakefile = compile_workflow(sel)
    assert os.path.isfile(snakefile) and "rule " in open(snakefile).read()
    assert run(sel, cores=2) == 0  # Snakemake, as --run starts it
    assert dry_run(sel)["totals"]["run"] == 0  # and now everything is cached
    table = iris_copy / "results" / "iris-base.jsonl"
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    assert {r["status"] for r in rows} == {"done"}

    # eagerly, into another cache: the manager holds every record's outputs
    eager = Selection(
        "iris", ("base",), project=str(iris_copy), cache_path=str(tmp_path / "eager-cache"),
        reuse=ReuseMode.OFF,
    )  # fmt: skip
    manager = run_eager(eager)
    assert manager.engine.ran and not manager.engine.cached
    scored = [r for r in manager.records if r.params is not None and "scores" in r.state]
    assert len(scored) == len(rows)
