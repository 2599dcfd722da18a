"""Submit time against sweep size on the real Slurm test cluster, beside curifactory's map.

    python benchmarks/submit_bench.py [--sizes 1000 10000 50000] [--phases]

The trivial 3-stage chain + aggregate sweep of compile_bench is submitted with
``cfcompile bench -p sweep --submit slurm`` (the README's command: default packing) on a
never-compiled copy, timed from the command's start to its exit (compile, packing, every
sbatch call, submissions.json written once), then cancelled. The cluster must be up
(``bash tests/slurm/cluster.sh up``, Slurm's default limits). curifactory 0.20.5 has no
Slurm submission; its ``experiment --map`` (trace only, nothing submitted) is the row beside
it, timed up to ``--curifactory-max`` sets (default 10,000: it took 127 s at 10,000 here).
``--phases`` adds cProfile's top functions of the largest size. Prints a table and writes
benchmarks/out/submit_bench.json. The machine is shared and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from compile_bench import experiment_exe, make_project, timed  # noqa: E402


def submit_row(tmp: Path, n: int, timeout: float, curifactory_max: int) -> dict:
    ours = make_project(tmp / f"ours{n}", "cfcompile")
    theirs = make_project(tmp / f"theirs{n}", "curifactory")
    env = {**os.environ, "BENCH_N": str(n), "USER": os.environ.get("USER", "root")}
    cmd = [sys.executable, "-m", "cfcompile.cli", "bench", "-p", "sweep", "--submit", "slurm"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ours, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"submit of {n} sets failed:\n{proc.stderr[-3000:]}")
    ids = [line.split("\t")[0] for line in proc.stdout.splitlines() if "\t" in line]
    subprocess.run(["scancel", *ids], check=False)
    tasks = sum(
        int(line.split(": ")[1].split()[0])
        for line in proc.stdout.splitlines()
        if "task(s)" in line
    )
    records = json.loads((ours / ".cfcompile" / "bench" / "submissions.json").read_text())
    cf_map = None
    if n <= curifactory_max:  # its map grows faster than linearly: 13 s at 1,000 sets here
        cf_map, _ = timed(
            [experiment_exe(), "bench", "-p", "sweep", "--map", "--no-dag"], theirs, n, timeout
        )
    return {
        "sets": n,
        "nodes": 3 * n + 1,
        "submit_s": round(wall, 2),
        "arrays": len(ids),
        "tasks": tasks,
        "records": len(records),
        "curifactory_map_s": None if cf_map is None else round(cf_map, 2),
    }


def phases(tmp: Path, n: int) -> list[tuple[str, float]]:
    """cProfile's cumulative time of cfcompile's own top-level steps for one submission."""
    ours = make_project(tmp / f"prof{n}", "cfcompile")
    prof = tmp / "submit.prof"
    env = {**os.environ, "BENCH_N": str(n)}
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "cfcompile.cli", "bench"]
    subprocess.run([*cmd, "-p", "sweep", "--submit", "slurm", "-q"], cwd=ours, env=env,
                   check=True, capture_output=True)  # fmt: skip
    records = json.loads((ours / ".cfcompile" / "bench" / "submissions.json").read_text())
    subprocess.run(["scancel", *{r["array"] for r in records}], check=False)
    import pstats

    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    wanted = ("build", "prepare", "plan", "pack", "submit_slurm", "submit_retry_job",
              "save_submissions", "trace", "build_graph", "read")  # fmt: skip
    out = []
    for (file, _line, name), (_cc, _nc, _tt, cum, _callers) in stats.items():
        if "cfcompile" in file and name in wanted:
            out.append((f"{Path(file).parent.name}/{Path(file).name}:{name}", round(cum, 2)))
    return sorted(out, key=lambda x: -x[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--phases", action="store_true")
    parser.add_argument(
        "--curifactory-max", type=int, default=10000, help="largest size to time curifactory at"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "submit_bench.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cfsubmit") as tmp_s:
        tmp = Path(tmp_s)
        rows = [submit_row(tmp, n, args.timeout, args.curifactory_max) for n in args.sizes]
        profile = phases(tmp, max(args.sizes)) if args.phases else []
    print(f"{'sets':>7} {'nodes':>7} {'submit s':>9} {'arrays':>7} {'tasks':>6} "
          f"{'curifactory --map s':>20}")  # fmt: skip
    for r in rows:
        print(f"{r['sets']:>7} {r['nodes']:>7} {r['submit_s']:>9} {r['arrays']:>7} "
              f"{r['tasks']:>6} {r['curifactory_map_s']!s:>20}")  # fmt: skip
    for name, seconds in profile:
        print(f"  {seconds:>7} s  {name}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "phases": profile}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
