"""Reuse across parameter sets: a sweep whose preparation is dear and whose fit is cheap.

    python benchmarks/reuse_bench.py [--lrs 8] [--seeds 3] [--prep-seconds 1.0]

8 learning rates x 3 seeds; ``prep`` (about 1 s of CPU) reads only the seed and declares it
(``uses=["seed"]`` when cfcompile is the library: the project is portable), ``fit`` (about
0.05 s) reads the learning rate, an aggregate picks the best. Each runner gets its own fresh
copy: a cold run, then the same sweep with a ninth learning rate. Runners: the README's pipe
(reuse on, the default), the same with ``--no-reuse``, and curifactory 0.20.5 serial and
``--parallel 2``. Also counts the ``prep`` computations (each appends a line to a log).
Prints a table and writes benchmarks/out/reuse_bench.json. The machine is shared and noisy:
compare within one run.
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
import cpu_bench  # noqa: E402
import local_projects as projects  # noqa: E402

PARAMS = """
import os
from dataclasses import dataclass

import curifactory as cf


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 0
    lr: float = 0.1


def get_params():
    lrs = [0.01 * (i + 1) for i in range(int(os.environ["BENCH_LRS"]))]
    seeds = range(int(os.environ["BENCH_SEEDS"]))
    return [P(name=f"lr{i}_seed{s}", lr=lr, seed=s) for i, lr in enumerate(lrs) for s in seeds]
"""

EXPERIMENT = """
import os

import curifactory as cf
from curifactory.caching import JsonCacher, PickleCacher

ON_CFCOMPILE = cf.__name__ == "cfcompile"
PREP_LOOPS = int(os.environ["BENCH_PREP_LOOPS"])
FIT_LOOPS = int(os.environ["BENCH_FIT_LOOPS"])
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prep.log")


def burn(loops, acc):
    for i in range(loops):
        acc = (acc * 31 + i) % 1000003
    return acc


@cf.stage(
    outputs=["features"],
    cachers=[PickleCacher],
    **({"uses": ["seed"]} if ON_CFCOMPILE else {}),
)
def prep(record):
    seed = record.params.seed
    with open(LOG, "a") as f:
        f.write(f"{seed}\\n")
    acc = burn(PREP_LOOPS, seed)
    return [float((acc + i) % 997) for i in range(20000)]


@cf.stage(inputs=["features"], outputs=["score"], cachers=[JsonCacher])
def fit(record, features):
    return (burn(FIT_LOOPS, int(sum(features))) % 97) * record.params.lr


@cf.aggregate(inputs=["score"], outputs=["best"], cachers=[JsonCacher])
def best(record, records, score):
    return max(score.values())


def run(param_sets, manager):
    for p in param_sets:
        fit(prep(cf.Record(manager, p)))
    best(cf.Record(manager, None))
"""

CORES = 2


def make(root: Path) -> Path:
    for rel, text in {"params/reuse.py": PARAMS, "experiments/reuse.py": EXPERIMENT}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text.lstrip())
    return projects.add_config(root)


RUNNERS = {
    "cfcompile (reuse, default)": lambda: ["bash", "-c", projects.pipe_for("reuse", "reuse")],
    "cfcompile --no-reuse": lambda: [
        "bash",
        "-c",
        projects.pipe_for("reuse", "reuse").replace("-p reuse", "-p reuse --no-reuse", 1),
    ],
    "curifactory serial": lambda: ["experiment", "reuse", "-p", "reuse"],
    f"curifactory --parallel {CORES}": lambda: [
        "experiment",
        "reuse",
        "-p",
        "reuse",
        "--parallel",
        str(CORES),
    ],
}


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def preps(root: Path) -> int:
    log = root / "prep.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def bests(root: Path) -> float | None:
    """The best score over every aggregate the runs left (curifactory --parallel leaves one
    per worker besides the whole one)."""
    found = [json.loads(p.read_text()) for p in (root / "data" / "cache").glob("*_best_best.json")]
    return max(found) if found else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lrs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--prep-seconds", type=float, default=1.0)
    parser.add_argument("--fit-seconds", type=float, default=0.05)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "reuse_bench.json"))
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    base = {
        "BENCH_SEEDS": str(args.seeds),
        "BENCH_PREP_LOOPS": str(cpu_bench.calibrate(args.prep_seconds)),
        "BENCH_FIT_LOOPS": str(cpu_bench.calibrate(args.fit_seconds)),
    }
    tmp = Path(tempfile.mkdtemp(prefix="reuse-bench-"))
    rows = []
    try:
        for name, cmd in RUNNERS.items():
            root = make(tmp / name.replace(" ", "_").replace("(", "").replace(")", ""))
            # a PYTHONPATH given to the benchmark (a snapshot of cfcompile) stays first
            path = [p for p in (os.environ.get("PYTHONPATH", ""), str(root)) if p]
            env = {**os.environ, **base, "PYTHONPATH": os.pathsep.join(path)}
            row = {"runner": name}
            for phase, lrs in (("cold", args.lrs), ("extended", args.lrs + 1)):
                before = preps(root)
                row[phase] = timed(cmd(), root, {**env, "BENCH_LRS": str(lrs)})
                row[f"{phase}_preps"] = preps(root) - before
            row["best"] = bests(root)
            rows.append(row)
            print(
                f"[{name}] cold {row['cold']:.2f} s ({row['cold_preps']} preps), "
                f"+1 lr {row['extended']:.2f} s ({row['extended_preps']} preps)",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ref = rows[0]["best"]
    print()
    print(f"{args.lrs} lr x {args.seeds} seeds, prep ~{args.prep_seconds} s (reads seed), "
          f"fit ~{args.fit_seconds} s; then one more lr; {CORES} cores")  # fmt: skip
    print("| runner | cold | prep runs | + 1 lr | prep runs | results |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        same = "reference" if r is rows[0] else ("equal" if r["best"] == ref else "DIFFER")
        print(
            f"| {r['runner']} | {r['cold']:.2f} s | {r['cold_preps']} | {r['extended']:.2f} s "
            f"| {r['extended_preps']} | {same} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
