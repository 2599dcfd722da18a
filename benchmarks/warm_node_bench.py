"""What one node costs over its stage: the job command with a warm worker versus without.

Runs the Snakefile's own job command (``python -I -S cfcompile/client.py VERSION --stage S
--hash H``) N times in a row, outside Snakemake, on a stage that does nothing but import
scikit-learn at module level (as a real experiment would). The cost per node is the command's
wall time minus the stage's own recorded time. Prints a table and writes JSON.

    python benchmarks/warm_node_bench.py [--nodes 40] [--out benchmarks/out/warm_node_bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

EXPERIMENT = """
import sklearn.linear_model  # noqa: F401 - the import a real experiment pays per fresh process
import cfcompile as cf
from cfcompile.caching import JsonCacher


@cf.stage(outputs=["y"], cachers=[JsonCacher])
def tiny(record):
    return record.params.x + 1


def run(param_sets, manager):
    for p in param_sets:
        tiny(cf.Record(manager, p))
"""

PARAMS = """
from dataclasses import dataclass
import cfcompile as cf


@dataclass
class Params(cf.ExperimentParameters):
    x: int = 0


def get_params():
    return [Params(name=f"n{i}", x=i) for i in range({n})]
"""


def run_nodes(root: Path, version: str, nodes: list, env: dict) -> list[float]:
    """Wall seconds of each node's job command, one after another."""
    from cfcompile.backends.snakemake.emit import CLIENT  # the path the Snakefile's command runs

    out = []
    for node in nodes:
        cmd = [sys.executable, "-I", "-S", CLIENT, version, "--stage", node.stage]
        cmd += ["--hash", node.hash]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        out.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"job failed: {proc.stdout}{proc.stderr}")
    return out


def stage_seconds(cache: Path) -> float:
    times = [json.loads(p.read_text())["timing"]["seconds"] for p in cache.glob("*_metadata.json")]
    return statistics.mean(times) if times else 0.0


def measure(label: str, n: int, worker: bool) -> dict:
    from cfcompile.core.workdir import NodeStore, current_version

    with tempfile.TemporaryDirectory(prefix="cfwarm") as tmp:
        root = Path(tmp)
        (root / "experiments").mkdir()
        (root / "params").mkdir()
        (root / "experiments" / "warm.py").write_text(EXPERIMENT)
        (root / "params" / "__init__.py").write_text("")
        (root / "params" / "many.py").write_text(PARAMS.replace("{n}", str(n)))
        env = {**os.environ, "CFCOMPILE_WORKER": "1" if worker else "0"}
        cli = [sys.executable, "-m", "cfcompile.cli", "warm", "-p", "many", "--batch", "1"]
        subprocess.run(cli, cwd=root, env=env, check=True, capture_output=True)
        version = current_version(str(root / ".cfcompile" / "warm"))
        nodes = NodeStore(version).nodes()
        walls = run_nodes(root, version, nodes, env)
        stage = stage_seconds(root / "data" / "cache")
    steady = walls[1:] if worker else walls  # the first warm job starts the worker
    return {
        "runner": label,
        "nodes": n,
        "first_s": round(walls[0], 4),
        "median_s": round(statistics.median(steady), 4),
        "mean_s": round(statistics.mean(steady), 4),
        "stage_s": round(stage, 6),
        "cost_over_stage_ms": round((statistics.median(steady) - stage) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--out", default=str(HERE / "out" / "warm_node_bench.json"))
    args = parser.parse_args(argv)
    rows = [
        measure("warm worker (default)", args.nodes, worker=True),
        measure("fresh process (CFCOMPILE_WORKER=0)", args.nodes, worker=False),
    ]
    print(f"{'runner':<38} {'nodes':>5} {'first':>8} {'median':>8} {'cost/node':>10}")
    for r in rows:
        print(
            f"{r['runner']:<38} {r['nodes']:>5} {r['first_s']:>7.3f}s {r['median_s']:>7.3f}s "
            f"{r['cost_over_stage_ms']:>8.1f}ms"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
