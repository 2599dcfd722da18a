"""Big values are shown short: a parameter holding 4,000,000 numbers must not make a 48 MB
metadata file, a 96 MB dry run or a results table that takes minutes."""

from __future__ import annotations

import json
import time

from helpers import pipe, run_cli

BIG = {
    "experiments/big.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        @cf.stage(outputs=["score"], cachers=[JsonCacher])
        def score(record):
            return {"total": sum(record.params.values[:10])}

        def run(param_sets, manager):
            for p in param_sets:
                score(cf.Record(manager, p))
    """,
    "params/one.py": """
        import os
        from dataclasses import dataclass, field
        import cfcompile as cf

        @dataclass
        class P(cf.ExperimentParameters):
            values: list = field(default_factory=list)

        def get_params():
            values = list(range(4_000_000))
            values[-1] = int(os.environ.get("BIG_LAST", "0"))
            return [P(name="big", values=values)]
    """,
}
LIMIT = 100_000  # bytes any of these may take


def test_a_4_000_000_number_parameter_is_shown_short_everywhere(project):
    root = project(BIG)
    proc = pipe(root, "big", "-p", "one")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (meta,) = (root / "data" / "cache").glob("big_*_score_score_metadata.json")
    assert meta.stat().st_size < LIMIT
    shown = json.loads(meta.read_text())["params"]["values"]
    assert "(34,888,884 characters, md5" in shown  # its beginning, length and digest

    changed = {"BIG_LAST": "7"}
    dry = run_cli("big", "-p", "one", "--dry-run", cwd=root, env=changed)
    assert len(dry.stdout) + len(dry.stderr) < LIMIT
    assert "parameters changed since its cache was written: values:" in dry.stdout

    start = time.monotonic()
    results = run_cli("big", "-p", "one", "--results", cwd=root)
    took = time.monotonic() - start
    assert took < 60, f"--results took {took:.1f} s"
    assert len(results.stdout) < LIMIT and "characters, md5" in results.stdout
    row = json.loads((root / "results" / "big-one.jsonl").read_text())
    assert row["total"] == 45 and len(row["values"]) <= 400
