"""Dry-run speed: ``cfcompile --dry-run`` on 1,000 and 20,000 nodes, beside curifactory --map.

    python benchmarks/dryrun_bench.py [--nodes 1000 20000]

Uses compile_bench's 3-stage chain + aggregate sweep (nodes = 3 x sets + 1). The target is
20,000 nodes in under 2 s. Prints a table and writes benchmarks/out/dryrun_bench.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from compile_bench import MEASURE, experiment_exe, make_project, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--curifactory-timeout", type=float, default=300)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "dryrun_bench.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cfdry") as tmp_s:
        tmp = Path(tmp_s)
        for nodes in args.nodes:
            sets = (nodes - 1) // 3
            ours = make_project(tmp / f"ours{nodes}", "cfcompile")
            cmd = [
                sys.executable,
                "-c",
                MEASURE,
                "bench",
                "-p",
                "sweep",
                "--dry-run",
                "--json",
                "-q",
            ]
            best = None
            for _ in range(3):  # best of three: the machine is shared
                wall, out = timed(cmd, ours, sets, 600)
                in_proc = float(
                    [ln for ln in out.splitlines() if ln.startswith("BENCH ")][-1].split()[1]
                )
                best = min(best or (wall, in_proc), (wall, in_proc))
            theirs = make_project(tmp / f"theirs{nodes}", "curifactory")
            cmap, _ = timed(
                [experiment_exe(), "bench", "-p", "sweep", "--map", "--no-dag"],
                theirs,
                sets,
                args.curifactory_timeout,
            )
            rows.append(
                {
                    "nodes": 3 * sets + 1,
                    "sets": sets,
                    "dry_run_s": round(best[0], 3),
                    "dry_run_in_process_s": round(best[1], 3),
                    "curifactory_map_s": None if cmap is None else round(cmap, 2),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("\n| nodes | cfcompile --dry-run (whole command) | in process | curifactory --map |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        cmap = f"{r['curifactory_map_s']} s" if r["curifactory_map_s"] else "> timeout"
        print(f"| {r['nodes']} | {r['dry_run_s']} s | {r['dry_run_in_process_s']} s | {cmap} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
