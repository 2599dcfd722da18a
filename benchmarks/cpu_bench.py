"""CPU-bound sweep on local cores: cfcompile + Snakemake against curifactory 0.20.5.

    python benchmarks/cpu_bench.py [--sets 60] [--seconds 1.0] [--cores 2]

Each parameter set runs a tiny load stage, a training stage that burns about ``--seconds`` of
CPU (a pure-Python loop calibrated once), and a scoring stage; one aggregate closes the sweep.
The ideal is the total measured stage time divided by the cores. Prints a table, writes
benchmarks/out/cpu_bench.json. The machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import compile_bench  # noqa: E402

EXPERIMENT = """
import os
import {lib} as cf
from {lib}.caching import JsonCacher, PickleCacher

LOOPS = int(os.environ["BENCH_LOOPS"])

@cf.stage(outputs=["data"], cachers=[PickleCacher])
def load(record):
    return list(range(100))

@cf.stage(inputs=["data"], outputs=["model"], cachers=[PickleCacher])
def train(record, data):
    acc = record.params.x
    for i in range(LOOPS):
        acc = (acc * 31 + i) % 1000003
    return acc

@cf.stage(inputs=["model"], outputs=["score"], cachers=[JsonCacher])
def score(record, model):
    return model % 97

@cf.aggregate(inputs=["score"], outputs=["best"], cachers=[JsonCacher])
def best(record, records, score):
    return max(score.values())

def run(param_sets, manager):
    for p in param_sets:
        score(train(load(cf.Record(manager, p))))
    best(cf.Record(manager, None))
"""


def calibrate(seconds: float) -> int:
    loops, acc = 2_000_000, 0
    start = time.process_time()
    for i in range(loops):
        acc = (acc * 31 + i) % 1000003
    return int(loops * seconds / (time.process_time() - start))


def make_project(root: Path, lib: str) -> Path:
    return compile_bench.make_project(root, lib, name="cpu", experiment=EXPERIMENT)


def run(cmd: list[str], cwd: Path, env: dict, stdin: str | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, input=stdin)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def stage_seconds(cache: Path) -> float:
    """Total CPU time of the stage calls (the issue's "total stage CPU time")."""
    total = 0.0
    for meta in cache.glob("*_metadata.json"):
        data = json.loads(meta.read_text())
        if data.get("artifact_name") in ("data", "model", "score", "best"):
            total += float(data.get("timing", {}).get("cpu_seconds", 0.0))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", type=int, default=120)
    parser.add_argument("--batch", default="auto", help="sets per job in the batched row")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "cpu_bench.json"))
    args = parser.parse_args()
    loops = calibrate(args.seconds)
    env = {**os.environ, "BENCH_N": str(args.sets), "BENCH_LOOPS": str(loops)}
    exe = shutil.which("experiment", path=os.path.dirname(sys.executable)) or "experiment"
    rows = {}
    with tempfile.TemporaryDirectory(prefix="cfcpu") as tmp_s:
        tmp = Path(tmp_s)
        serial = make_project(tmp / "serial", "curifactory")
        rows["curifactory serial"] = run([exe, "cpu", "-p", "sweep", "--no-dag"], serial, env)
        par = make_project(tmp / "parallel", "curifactory")
        rows[f"curifactory --parallel {args.cores}"] = run(
            [exe, "cpu", "-p", "sweep", "--no-dag", "--parallel", str(args.cores)], par, env
        )
        variants = (
            (f"cfcompile | snakemake --cores {args.cores}", []),
            (
                f"cfcompile --batch {args.batch} | snakemake --cores {args.cores}",
                ["--batch", str(args.batch)],
            ),
        )
        for i, (label, extra) in enumerate(variants):
            ours = make_project(tmp / f"ours{i}", "cfcompile")
            start = time.perf_counter()
            snakefile = subprocess.run(
                [sys.executable, "-m", "cfcompile.cli", "cpu", "-p", "sweep", "-q", *extra],
                cwd=ours,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            run(
                [
                    sys.executable,
                    "-m",
                    "snakemake",
                    "-s",
                    "/dev/stdin",
                    "--cores",
                    str(args.cores),
                    "--quiet",
                    "all",
                    "--scheduler",
                    "greedy",
                ],
                ours,
                env,
                stdin=snakefile,
            )
            rows[label] = time.perf_counter() - start
        work = stage_seconds(tmp / "ours0" / "data" / "cache")  # the one-job-per-node run
    ideal = work / args.cores
    base = rows["curifactory serial"]
    print(f"\nCPU-bound sweep: {args.sets} sets x ~{args.seconds} s training, {args.cores} cores")
    print(f"total stage CPU time {work:.1f} s -> ideal {ideal:.1f} s wall\n")
    print("| runner | wall | vs curifactory serial | fraction of ideal |")
    print("|---|---:|---:|---:|")
    table = []
    for name, wall in rows.items():
        table.append(
            {
                "runner": name,
                "wall_s": round(wall, 2),
                "speedup": round(base / wall, 2),
                "fraction_of_ideal": round(ideal / wall, 3),
            }
        )
        print(f"| {name} | {wall:.1f} s | {base / wall:.2f}x | {ideal / wall:.0%} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "sets": args.sets,
                "stage_seconds": work,
                "ideal_s": ideal,
                "cores": args.cores,
                "rows": table,
            },
            indent=2,
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
