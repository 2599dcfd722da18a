"""Compile and run benchmarks, side by side with curifactory 0.20.5 on the same experiment.

    python benchmarks/compile_bench.py [--sizes 100 1000 5000 20000] [--run-sets 1000]

A trivial 3-stage chain + 1 aggregate sweep is written twice (``import cfcompile as cf`` and
``import curifactory as cf``) into a temporary project. Prints a table and writes
benchmarks/out/compile_bench.json. The machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PARAMS = """
from dataclasses import dataclass
import {lib} as cf

@dataclass
class Params(cf.ExperimentParameters):
    x: int = 0
"""
SWEEP = """
import os
from params import Params

def get_params():
    return [Params(name=f"p{i}", x=i) for i in range(int(os.environ["BENCH_N"]))]
"""
EXPERIMENT = """
import {lib} as cf
from {lib}.caching import JsonCacher, PickleCacher

@cf.stage(outputs=["a"], cachers=[PickleCacher])
def first(record):
    return record.params.x

@cf.stage(inputs=["a"], outputs=["b"], cachers=[PickleCacher])
def second(record, a):
    return a * 2

@cf.stage(inputs=["b"], outputs=["c"], cachers=[JsonCacher])
def third(record, b):
    return b + 1

@cf.aggregate(inputs=["c"], outputs=["total"], cachers=[JsonCacher])
def total(record, records, c):
    return sum(c.values())

def run(param_sets, manager):
    for p in param_sets:
        third(second(first(cf.Record(manager, p))))
    total(cf.Record(manager, None))
"""

MEASURE = """
import resource, sys, time
t = time.perf_counter()
from cfcompile.cli import main
rc = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(f"\\nBENCH {time.perf_counter() - t} {peak}\\n")
sys.exit(rc)
"""


def make_project(root: Path, lib: str, name: str = "bench", experiment: str = EXPERIMENT) -> Path:
    """The sweep project written for ``lib`` (cfcompile or curifactory): same code, two imports."""
    for rel, text in {
        "params/__init__.py": PARAMS.format(lib=lib),
        "params/sweep.py": SWEEP,
        f"experiments/{name}.py": experiment.format(lib=lib),
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def timed(
    cmd: list[str], cwd: Path, n: int, timeout: float, stdin=None
) -> tuple[float | None, str]:
    env = {**os.environ, "BENCH_N": str(n)}
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, input=stdin
        )
    except subprocess.TimeoutExpired:
        return None, "timeout"
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout + proc.stderr


def compile_row(tmp: Path, n: int, timeout: float) -> dict:
    ours = make_project(tmp / f"ours{n}", "cfcompile")
    theirs = make_project(tmp / f"theirs{n}", "curifactory")
    wall, out = timed(
        [sys.executable, "-c", MEASURE, "bench", "-p", "sweep", "-o", "Snakefile", "-q"],
        ours,
        n,
        timeout,
    )
    bench = [ln for ln in out.splitlines() if ln.startswith("BENCH ")][-1].split()
    dry, _ = timed(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "all", "--cores", "1"],
        ours,
        n,
        timeout,
    )
    cf_map, _ = timed(
        [experiment_exe(), "bench", "-p", "sweep", "--map", "--no-dag"], theirs, n, timeout
    )
    return {
        "sets": n,
        "nodes": 3 * n + 1,
        "compile_s": round(wall, 3),
        "compile_in_process_s": round(float(bench[1]), 3),
        "compile_peak_mb": round(int(bench[2]) / 1024, 1),
        "snakemake_dry_run_s": None if dry is None else round(dry, 2),
        "curifactory_map_s": None if cf_map is None else round(cf_map, 2),
    }


def experiment_exe() -> str:
    return shutil.which("experiment", path=os.path.dirname(sys.executable)) or "experiment"


def run_rows(tmp: Path, n: int, batch: int, timeout: float) -> list[dict]:
    rows = []
    theirs = make_project(tmp / "run_theirs", "curifactory")
    cold, _ = timed([experiment_exe(), "bench", "-p", "sweep", "--no-dag"], theirs, n, timeout)
    noop, _ = timed([experiment_exe(), "bench", "-p", "sweep", "--no-dag"], theirs, n, timeout)
    rows.append({"runner": "curifactory 0.20.5 serial", "sets": n, "cold_s": cold, "noop_s": noop})
    for label, extra in (
        ("cfcompile | snakemake --cores 2", []),
        (f"cfcompile --batch {batch} | snakemake --cores 2", ["--batch", str(batch)]),
    ):
        ours = make_project(tmp / f"run_ours{len(rows)}", "cfcompile")
        times = []
        for _ in range(2):  # cold, then no-op
            start = time.perf_counter()
            env = {**os.environ, "BENCH_N": str(n)}
            snakefile = subprocess.run(
                [sys.executable, "-m", "cfcompile.cli", "bench", "-p", "sweep", "-q", *extra],
                cwd=ours,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            cmd = [sys.executable, "-m", "snakemake", "-s", "/dev/stdin", "--cores", "2"]
            cmd += ["--quiet", "all", "--scheduler", "greedy"]  # as the bundled local profile
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=ours,
                    env=env,
                    input=snakefile,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                times.append(None)  # reported as "> timeout"; the no-op run is skipped
                break
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-3000:])
            times.append(time.perf_counter() - start)
        if times[-1] is not None:
            path = next((ours / "data" / "cache").glob("bench_*_total_total.json"))
            assert json.loads(path.read_text()) == sum(2 * i + 1 for i in range(n))
        times += [None] * (2 - len(times))
        rows.append({"runner": label, "sets": n, "cold_s": times[0], "noop_s": times[1]})
    for r in rows:
        for k in ("cold_s", "noop_s"):
            r[k] = None if r[k] is None else round(r[k], 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 20000])
    parser.add_argument("--run-sets", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--skip-compile", action="store_true", help="only the full-run rows")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "compile_bench.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cfbench") as tmp_s:
        tmp = Path(tmp_s)
        compile_rows = []
        for n in [] if args.skip_compile else args.sizes:
            row = compile_row(tmp, n, args.timeout)
            compile_rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        run = run_rows(tmp, args.run_sets, args.batch, args.timeout)
    print("\nCompile (3-stage chain + aggregate; wall time of the whole command)")
    print(
        "| sets | nodes | cfcompile compile | peak MB | snakemake -n | curifactory --map | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in compile_rows:
        ratio = (
            f"{r['curifactory_map_s'] / r['compile_s']:.1f}x" if r["curifactory_map_s"] else "n/a"
        )
        cmap = f"{r['curifactory_map_s']} s" if r["curifactory_map_s"] else "timeout"
        dry = f"{r['snakemake_dry_run_s']} s" if r["snakemake_dry_run_s"] else "timeout"
        print(
            f"| {r['sets']} | {r['nodes']} | {r['compile_s']} s | {r['compile_peak_mb']} | {dry} | "
            f"{cmap} | {ratio} |"
        )
    print(f"\nFull local run, {args.run_sets} sets, 2 cores (compile included for cfcompile)")
    print("| runner | cold | no-op rerun |")
    print("|---|---:|---:|")
    for r in run:
        cold = f"{r['cold_s']} s" if r["cold_s"] is not None else f"> {args.timeout:g} s"
        noop = f"{r['noop_s']} s" if r["noop_s"] is not None else "-"
        print(f"| {r['runner']} | {cold} | {noop} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.skip_compile and out.exists():  # keep the compile rows of an earlier run
        compile_rows = json.loads(out.read_text()).get("compile", [])
    out.write_text(json.dumps({"compile": compile_rows, "run": run}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
