"""Local runs side by side: cfcompile + Snakemake against curifactory 0.20.5, in one run.

    python benchmarks/local_bench.py [--only a,b,...] [--quick] [--out PATH] [--timeout 900]

Every command is the DEFAULT one a researcher types, with no tuning flags, because that is the
experience being measured: the README's own pipe, read from README.md
(``cfcompile EXP -p P | snakemake -s /dev/stdin --cores 2 -k --logger cfcompile`` today, through
``bash -c`` with pipefail, so a failed compile is not hidden by Snakemake's "nothing to be done"),
``experiment EXP -p P`` and ``experiment EXP -p P --parallel 2``. Both tools run the very same
experiment files (``import curifactory as cf``; cfcompile aliases that import to itself).
Run it from an environment installed as the README says (no ``slurm`` extra): Snakemake imports
every installed executor plugin at each start, and the table warns when the slurm one is there.

Workloads (each runner gets a fresh temporary copy: cold = empty cache, no-op = immediate rerun):
  g  curifactory's own examples/experiments/iris.py, unmodified: 2 sets, 2 stages + aggregate
  a  curifactory-compatible iris example (benchmarks/projects/iris_compat), 6 sets
  b  scikit-learn digits sweep: 24 sets x (split, train SVC, evaluate) + 1 aggregate
  c  1,000 sets of trivial stages (compile_bench's 3-stage chain + aggregate)
  d  CPU-bound sweep: 24 sets, one stage of ~1 s CPU each; ideal = stage CPU seconds / 2 cores
  h  CPU-bound sweep: 24 sets x (0.1 s + 1.0 s of CPU) in two stages with a pickled hand-off,
     and an aggregate; ideal = stage CPU seconds / 2 cores
  e  2,000 sets of trivial stages (curifactory serial under the same time cap)
  f  50,000 sets: ``cfcompile -o Snakefile`` and ``snakemake -n`` time and peak memory

Each cold cfcompile run is broken down into compile, Snakemake's start, jobs, after the last
stage and exit (benchmarks/phases.py reads the boundaries from the files the run wrote).

Peak MB is /usr/bin/time's "Maximum resident set size": the largest single process of the
command's tree, not the sum. Every command has a time cap; a capped run is recorded as
"timeout" and the script goes on. Prints a table, writes benchmarks/out/local_bench.json.
The machine is shared and noisy: compare rows within one run, not across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cpu_bench  # noqa: E402  (the calibrated CPU-burning loop)
import local_projects as projects  # noqa: E402
import phases  # noqa: E402

BIN = Path(sys.executable).parent
CORES = 2
SAMPLE_SECONDS = 0.5  # memory sampling interval while a command runs
SMALL_RESULTS = 60  # workloads with at most this many result files keep their values in JSON
# ---------------------------------------------------------------------------------------------
# running one command


def run_capped(cmd: list[str], cwd: Path, env: dict, cap: float, log: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time -v with a time cap; never raises for a failing command.

    The command gets its own session so a capped run can be ended with its whole process tree
    (Snakemake's jobs, curifactory's --parallel workers), not only the direct child. While it
    runs, the memory of every process working in the project is sampled (see ``project_pss``):
    /usr/bin/time only sees descendants it waits for, not a detached warm worker.
    """
    rss_file = log.with_suffix(".time")
    full = ["/usr/bin/time", "-v", "-o", str(rss_file), *cmd]
    total_peak = 0.0
    started_at = time.time()  # the wall clock the stages' metadata uses (phases.py)
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        code, status = None, "timeout"
        while time.perf_counter() - start < cap:
            try:
                code = proc.wait(timeout=SAMPLE_SECONDS)
                status = "ok" if code == 0 else "failed"
                break
            except subprocess.TimeoutExpired:
                total_peak = max(total_peak, project_pss(cwd))
        else:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
    wall = time.perf_counter() - start
    result = {
        "wall_s": round(wall, 2) if status != "timeout" else None,
        "exit": code,
        "status": status,
        "peak_mb": peak_mb(rss_file) if status != "timeout" else None,
        "peak_total_mb": round(total_peak, 1) if total_peak else None,
        "started_at": started_at,
    }
    if status == "failed":
        result["error_tail"] = log.read_text(errors="replace")[-1500:]
    return result


def project_pids(root: Path) -> list[int]:
    """Processes working in ``root`` (their cwd) or naming it on their command line."""
    prefix, pids = str(root), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if cwd == prefix or cwd.startswith(prefix + "/") or prefix.encode() in cmdline:
            pids.append(int(entry))
    return pids


def project_pss(root: Path) -> float:
    """Summed proportional set size (MB) of the project's processes: shared pages counted once.

    PSS, not RSS: forked children share their parent's pages, and summing RSS would count a
    warm worker's imports once per child.
    """
    total_kb = 0
    for pid in project_pids(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024


def end_leftovers(root: Path) -> list[str]:
    """End processes a finished run left behind in ``root`` (e.g. an idle warm worker).

    They would otherwise hold memory and CPU during the next workload. Only processes of this
    benchmark's own temporary project qualify, each ended by its pid.
    """
    names = []
    for pid in project_pids(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            names.append(" ".join(c.decode(errors="replace") for c in cmd[1:3]))
            os.kill(pid, signal.SIGTERM)
        except (OSError, IndexError):
            continue
    return names


def peak_mb(time_file: Path) -> float | None:
    try:
        for line in time_file.read_text().splitlines():
            if "Maximum resident set size" in line:
                return round(int(line.rsplit(":", 1)[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def cfcompile_source() -> dict:
    """Which cfcompile the commands ran: its folder, git commit, dirty files, content digest.

    cfcompile is installed editable from a tree another engineer may be changing; jobs import
    it afresh, so an edit during the run would mix two versions. Taken per workload to see that.
    """
    spec = importlib.util.find_spec("cfcompile")
    if spec is None or spec.origin is None:
        return {"path": None}
    pkg = Path(spec.origin).parent
    h = hashlib.sha256()
    for path in sorted(pkg.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(pkg)).encode() + b"\0" + path.read_bytes())
    info = {"path": str(pkg), "digest": h.hexdigest()[:16]}
    git = ["git", "--no-optional-locks", "-C", str(pkg.parent)]
    try:
        info["commit"] = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
        info["dirty_files"] = len(status.stdout.splitlines())
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def snakemake_jobs(log: Path) -> int | None:
    """Jobs Snakemake ran ("N of N steps") or planned (dry run's job stats "total N")."""
    text = log.read_text(errors="replace") if log.exists() else ""
    # Snakemake's own lines, or the cfcompile logger's progress line ("9 of 9 jobs")
    done = re.findall(r"(\d+) of (\d+) (?:steps \(100%\) done|jobs\b)", text)
    done = [d for d in done if d[0] == d[1]]
    if done:
        return int(done[-1][1])
    planned = re.findall(r"^total\s+(\d+)\s*$", text, flags=re.M)
    return int(planned[-1]) if planned else None


# ---------------------------------------------------------------------------------------------
# what a run left behind


def result_values(cache: Path) -> dict:
    """Every JSON output in the cache, by file name (metadata and report listings excluded).

    Cache file names are the parameter-set hash plus stage and output, identical between the
    two tools, so equal names with equal values mean equal results.
    """
    values = {}
    for path in sorted(cache.glob("*.json")):
        if path.name.endswith("_metadata.json") or "_reportables" in path.name:
            continue
        try:
            values[path.name] = json.loads(path.read_text())
        except (OSError, ValueError):
            values[path.name] = None
    return values


def stage_timing(timings: dict[tuple, dict]) -> dict:
    """Nodes and summed stage seconds from cfcompile's metadata (``phases.node_timings``)."""
    return {
        "nodes": len(timings),
        "stage_seconds": round(sum(float(t.get("seconds", 0)) for t in timings.values()), 3),
        "stage_cpu_seconds": round(
            sum(float(t.get("cpu_seconds", 0)) for t in timings.values()), 3
        ),
    }


def digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# workloads


def selection(exp: str, p: str | None) -> list[str]:
    return [exp, "-p", p] if p else [exp]


RUNNERS = {
    "cfcompile": lambda exp, p: ["bash", "-c", f"set -o pipefail; {projects.pipe_for(exp, p)}"],
    "curifactory serial": lambda exp, p: ["experiment", *selection(exp, p)],
    f"curifactory --parallel {CORES}": lambda exp, p: [
        "experiment",
        *selection(exp, p),
        "--parallel",
        str(CORES),
    ],
}


def run_workload(
    key: str, title: str, make, exp: str, params: str, runners: list[str], ctx: dict
) -> list[dict]:
    """Cold run then no-op rerun of each runner on its own fresh copy of the project."""
    rows = []
    for runner in runners:
        root = make(ctx["tmp"] / f"{key}_{runner.replace(' ', '_').replace('-', '')}")
        cmd = RUNNERS[runner](exp, params)
        row = {
            "workload": key,
            "title": title,
            "runner": runner,
            "command": shlex.join(cmd) if cmd[0] != "bash" else cmd[2],
            "sets": ctx["sets"],
            "load_avg_1min": round(os.getloadavg()[0], 2),  # the machine is shared: context
        }
        cold = run_capped(cmd, root, ctx["env"], ctx["cap"], root / "cold.log")
        row.update({f"cold_{k}": v for k, v in cold.items()})
        cache = root / "data" / "cache"
        timings = phases.node_timings(cache) if runner == "cfcompile" else {}  # read once
        if runner == "cfcompile" and cold["status"] == "ok":
            row["phases"] = phases.breakdown(root, exp, cold["started_at"], cold["wall_s"], timings)
        if cold["status"] == "ok":
            noop = run_capped(cmd, root, ctx["env"], ctx["cap"], root / "noop.log")
            row.update({f"noop_{k}": v for k, v in noop.items()})
        row["leftover_processes"] = end_leftovers(root)
        values = result_values(root / "data" / "cache")
        row["results_count"] = len(values)
        row["results_digest"] = digest(values)
        row["_values"] = values
        if runner == "cfcompile":
            row["snakemake_jobs"] = snakemake_jobs(root / "cold.log")
        if runner == "cfcompile" and cold["status"] == "ok":
            row.update(stage_timing(timings))
            if row["nodes"]:
                # Stage seconds come from cfcompile's metadata; the job's own wall time is not
                # recorded, so this spreads everything that is not stage work over the nodes.
                row["per_node_overhead_s_approx"] = round(
                    (row["cold_wall_s"] - row["stage_seconds"] / CORES) / row["nodes"], 4
                )
        rows.append(row)
        print(f"[{key}] {runner}: {summary(row)}", file=sys.stderr, flush=True)
    compare_results(rows)
    return rows


def compare_results(rows: list[dict]) -> None:
    """Each runner's results against cfcompile's: every cfcompile result file, equal value.

    curifactory --parallel also leaves the aggregate of each worker's subset behind (other
    hashes); those extra files are ignored, only cfcompile's files are compared.
    """
    ref = next((r for r in rows if r["runner"] == "cfcompile"), None)
    for row in rows:
        values = row.pop("_values")
        if len(values) <= SMALL_RESULTS:
            row["results"] = values
        row["_cmp"] = values
    if ref is None:
        for row in rows:
            row.pop("_cmp")
        return
    base = ref["_cmp"]
    for row in rows:
        if row is not ref and base and row["_cmp"]:
            row["results_match_cfcompile"] = all(
                name in row["_cmp"] and row["_cmp"][name] == value for name, value in base.items()
            )
    for row in rows:
        row.pop("_cmp")


def workload_f(ctx: dict) -> list[dict]:
    """Compile 50,000 sets to a file, then let Snakemake dry-run it: time and peak memory."""
    root = projects.chain_project(ctx["tmp"] / "f")
    rows = []
    for runner, cmd in (
        ("cfcompile -o Snakefile", ["cfcompile", "bench", "-p", "sweep", "-o", "Snakefile"]),
        (
            f"snakemake -n --cores {CORES}",
            ["snakemake", "-s", "Snakefile", "-n", "--cores", str(CORES)],
        ),
    ):
        res = run_capped(cmd, root, ctx["env"], ctx["cap"], root / f"{len(rows)}.log")
        row = {
            "workload": "f",
            "title": f"{ctx['sets']:,} sets: compile and dry run",
            "runner": runner,
            "command": shlex.join(cmd),
            "sets": ctx["sets"],
            "nodes": 3 * ctx["sets"] + 1,
        }
        row.update({f"cold_{k}": v for k, v in res.items()})
        if runner.startswith("snakemake"):
            row["snakemake_jobs"] = snakemake_jobs(root / f"{len(rows)}.log")
        rows.append(row)
        print(f"[f] {runner}: {summary(row)}", file=sys.stderr, flush=True)
        if res["status"] != "ok":
            break  # no Snakefile to dry-run
    rows[-1]["leftover_processes"] = end_leftovers(root)
    return rows


def summary(row: dict) -> str:
    return f"cold {cell(row, 'cold')}  no-op {cell(row, 'noop')}"


def cell(row: dict, phase: str) -> str:
    status = row.get(f"{phase}_status")
    if status is None:
        return "-"
    if status == "timeout":
        return "timeout"
    text = f"{row[f'{phase}_wall_s']:.2f}"
    return text if status == "ok" else f"{text} (exit {row[f'{phase}_exit']})"


# ---------------------------------------------------------------------------------------------
# output


def print_table(rows: list[dict], extra: dict) -> None:
    headers = ["wl", "runner", "sets", "jobs", "cold s", "no-op s", "peak MB", "total MB"]
    headers += ["exit", "results"]
    align = ["<", "<", ">", ">", ">", ">", ">", ">", ">", "<"]
    lines = []
    for r in rows:
        exits = [
            "-" if r.get(f"{p}_exit") is None else str(r[f"{p}_exit"])
            for p in ("cold", "noop")
            if r.get(f"{p}_status")
        ]
        match = r.get("results_match_cfcompile")
        results = {True: "equal", False: "DIFFER", None: "-"}[match]
        if r["runner"] == "cfcompile" and r.get("results_count"):
            results = "reference"
        lines.append(
            [
                r["workload"],
                r["runner"],
                f"{r['sets']:,}",
                "-" if r.get("snakemake_jobs") is None else f"{r['snakemake_jobs']:,}",
                cell(r, "cold"),
                cell(r, "noop"),
                "-" if r.get("cold_peak_mb") is None else f"{r['cold_peak_mb']:.0f}",
                "-" if r.get("cold_peak_total_mb") is None else f"{r['cold_peak_total_mb']:.0f}",
                "/".join(exits),
                results,
            ]
        )
    widths = [max(len(h), *(len(ln[i]) for ln in lines)) for i, h in enumerate(headers)]

    def fmt(cells):
        return "| " + " | ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)) + " |"

    print()
    print(fmt(headers))
    print(
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == ">" else "-" * (w + 2) for a, w in zip(align, widths)
        )
        + "|"
    )
    for ln in lines:
        print(fmt(ln))
    print(
        "\njobs: Snakemake jobs of the cfcompile run. peak MB: largest single process of the "
        "cold run (/usr/bin/time).\ntotal MB: peak summed PSS of all the run's processes, "
        f"sampled every {SAMPLE_SECONDS} s (incl. detached workers). exit: cold/no-op."
    )
    for key, info in extra.items():
        if not key.startswith("_"):
            print(f"{key}: {info['title']}")
    for key in CPU_BOUND:
        if not extra.get(key, {}).get("ideal_s"):
            continue
        info = extra[key]
        print(
            f"\n({key}) stage CPU seconds {info['stage_cpu_seconds']:.1f} (cfcompile metadata) / "
            f"{CORES} cores -> ideal {info['ideal_s']:.1f} s"
        )
        for r in rows:
            if r["workload"] == key and r.get("fraction_of_ideal") is not None:
                print(f"    {r['runner']:<28} {r['fraction_of_ideal']:.0%} of ideal")
    print_versus(rows)
    print_phases(rows)
    if extra.get("_slurm_executor_installed"):
        print(
            "\nWARNING: snakemake-executor-plugin-slurm is installed in this environment: every "
            "Snakemake start imports it (about 0.4 s), which the README's install does not have"
        )
    over = [r for r in rows if r.get("per_node_overhead_s_approx") is not None]
    if over:
        print(
            "\ncfcompile per-node overhead, APPROXIMATE: (cold wall - stage seconds / cores) / "
            "nodes; job wall time is not recorded, so compile and Snakemake start are included."
        )
        for r in over:
            print(
                f"    ({r['workload']}) {r['nodes']:>6} nodes, stage {r['stage_seconds']:.1f} s "
                f"-> {r['per_node_overhead_s_approx'] * 1000:.0f} ms/node"
            )


def print_versus(rows: list[dict]) -> None:
    """The README's pipe against curifactory's best local run, per workload (cold)."""
    lines = []
    for key in dict.fromkeys(r["workload"] for r in rows):
        ours = next((r for r in rows if r["workload"] == key and r["runner"] == "cfcompile"), None)
        theirs = [
            r
            for r in rows
            if r["workload"] == key and r["runner"] != "cfcompile" and r.get("cold_status") == "ok"
        ]
        if not ours or ours.get("cold_status") != "ok" or not theirs:
            continue
        best = min(theirs, key=lambda r: r["cold_wall_s"])
        ratio = best["cold_wall_s"] / ours["cold_wall_s"]
        lines.append(
            f"    ({key}) {ours['cold_wall_s']:.2f} s vs {best['runner']} "
            f"{best['cold_wall_s']:.2f} s: {ratio:.2f}x " + ("faster" if ratio >= 1 else "SLOWER")
        )
    if lines:
        print("\ncfcompile (README pipe, cold) against curifactory's best local run:")
        print("\n".join(lines))


def print_phases(rows: list[dict]) -> None:
    """Where each cold cfcompile run's wall time went (phases.py)."""
    found = [r for r in rows if r.get("phases")]
    if not found:
        return
    print(
        "\ncfcompile cold run, seconds per phase: compile | Snakemake start to first stage | "
        "jobs (first stage start to last stage end) | after the last stage (results table) | exit"
    )
    for r in found:
        print(f"    ({r['workload']}) {r['cold_wall_s']:.2f} s = {phases.describe(r['phases'])}")


def cpu_workload(key: str, ctx: dict, new_rows, extra: dict) -> None:
    """The ideal of a CPU-bound workload (stage CPU seconds / cores) and each runner's share."""
    ref = next((r for r in new_rows if r["runner"] == "cfcompile"), {})
    if ref.get("stage_cpu_seconds"):
        ideal = ref["stage_cpu_seconds"] / CORES
        extra[key] |= {"stage_cpu_seconds": ref["stage_cpu_seconds"], "ideal_s": ideal}
        for r in new_rows:
            if r.get("cold_status") == "ok":
                r["fraction_of_ideal"] = round(ideal / r["cold_wall_s"], 3)


def warm_up(tmp: Path, env: dict, cap: float) -> None:
    """One untimed run of every runner on curifactory's iris example, before any timing.

    The first command after a while reads scikit-learn, Snakemake and both tools from disk
    and writes their bytecode caches; whichever tool went first would pay for both.
    """
    for runner, cmd in RUNNERS.items():
        root = projects.example_project(tmp / f"warmup_{runner.replace(' ', '_')}")
        run_capped(cmd("iris", None), root, env, cap, root / "warmup.log")
        end_leftovers(root)
    print("[warm-up] done", file=sys.stderr, flush=True)


CPU_BOUND = ("d", "h")
ORDER = "g,a,b,c,d,h,e,f"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=ORDER, help="comma-separated workloads")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--timeout", type=float, default=900, help="cap per command, seconds")
    parser.add_argument("--out", default=str(HERE / "out" / "local_bench.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    args = parser.parse_args(argv)
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(only) - set(ORDER.split(","))
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    q = args.quick
    sizes = {"b": 4 if q else 24, "c": 20 if q else 1000, "d": 4 if q else 24, "h": 4 if q else 24}
    sizes |= {"e": 40 if q else 2000, "f": 1000 if q else 50000}
    cpu_seconds = 0.2 if q else 1.0
    all_runners = list(RUNNERS)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a researcher's shell keeps the bytecode caches
    rows: list[dict] = []
    extra: dict = {}
    slurm_plugin = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
    tmp_dir = tempfile.mkdtemp(prefix="cflocal")
    started = time.time()
    sources = [cfcompile_source()]
    try:
        warm_up(Path(tmp_dir), env, args.timeout)
        for key in only:
            extra[key] = {"cfcompile_source": cfcompile_source()}
            sources.append(extra[key]["cfcompile_source"])
            ctx = {"tmp": Path(tmp_dir), "cap": args.timeout, "env": dict(env)}
            if key == "g":
                ctx["sets"] = 2
                title = "curifactory's examples/experiments/iris.py, 2 sets, 2 stages + 1"
                new = run_workload(
                    "g", title, projects.example_project, "iris", None, all_runners, ctx
                )
            elif key == "a":
                ctx["sets"] = 6
                title = "iris (curifactory-compatible copy), 6 sets"
                new = run_workload(
                    "a", title, projects.iris_project, "iris", "base", all_runners, ctx
                )
            elif key == "b":
                ctx["sets"] = sizes["b"]
                ctx["env"]["BENCH_N"] = str(sizes["b"])
                title = f"scikit-learn digits SVC sweep, {sizes['b']} sets x 3 stages + 1"
                new = run_workload(
                    "b", title, projects.digits_project, "digits", "digits", all_runners, ctx
                )
            elif key in "ce":
                ctx["sets"] = sizes[key]
                ctx["env"]["BENCH_N"] = str(sizes[key])
                title = f"{sizes[key]:,} sets of trivial stages, 3-stage chain + 1"
                runners = all_runners if key == "c" else all_runners[:2]
                new = run_workload(
                    key, title, projects.chain_project, "bench", "sweep", runners, ctx
                )
            elif key == "d":
                ctx["sets"] = sizes["d"]
                loops = cpu_bench.calibrate(cpu_seconds)
                ctx["env"] |= {"BENCH_N": str(sizes["d"]), "BENCH_LOOPS": str(loops)}
                title = f"CPU-bound sweep, {sizes['d']} sets x ~{cpu_seconds} s of CPU"
                new = run_workload(
                    "d", title, projects.cpu_project, "cpu", "sweep", all_runners, ctx
                )
                cpu_workload("d", ctx, new, extra)
            elif key == "h":
                ctx["sets"] = sizes["h"]
                fit = cpu_bench.calibrate(cpu_seconds)
                ctx["env"] |= {
                    "BENCH_N": str(sizes["h"]),
                    "BENCH_LOOPS": str(fit),
                    "BENCH_PREP_LOOPS": str(fit // 10),
                }
                title = (
                    f"CPU-bound sweep, {sizes['h']} sets x (~{cpu_seconds / 10:g} s + "
                    f"~{cpu_seconds:g} s of CPU), pickled hand-off, + 1"
                )
                new = run_workload(
                    "h", title, projects.cpu2_project, "cpu2", "sweep", all_runners, ctx
                )
                cpu_workload("h", ctx, new, extra)
            else:
                ctx["sets"] = sizes["f"]
                ctx["env"]["BENCH_N"] = str(sizes["f"])
                new = workload_f(ctx)
                title = new[0]["title"]
            extra[key]["title"] = title
            rows.extend(new)
    finally:
        if args.keep:
            print(f"kept {tmp_dir}", file=sys.stderr)
        else:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    sources.append(cfcompile_source())
    for key, after in zip(only, sources[2:]):  # a workload's source, then the next one's
        extra[key]["cfcompile_source_changed"] = extra[key]["cfcompile_source"].get(
            "digest"
        ) != after.get("digest")
    changed = len({src.get("digest") for src in sources}) > 1
    print_table(rows, extra | {"_slurm_executor_installed": slurm_plugin})
    src = sources[-1]
    print(
        f"\ncfcompile from {src.get('path')} at {src.get('commit')} "
        f"({src.get('dirty_files', '?')} uncommitted files, digest {src.get('digest')})"
    )
    if changed:
        moved = [key for key in only if extra[key].get("cfcompile_source_changed")]
        print(
            "WARNING: cfcompile's source changed during this run: rows mix versions "
            f"(changed while running workload(s) {', '.join(moved) or 'before the first'})"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "cores": CORES,
                "quick": q,
                "timeout_s": args.timeout,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                "total_s": round(time.time() - started, 1),
                "workloads": extra,
                "readme_pipe": projects.readme_pipe(),
                "slurm_executor_installed": slurm_plugin,
                "cfcompile_source_start": sources[0],
                "cfcompile_source_end": sources[-1],
                "cfcompile_source_changed_during_run": changed,
                "peak_mb_note": "largest single process of the command (/usr/bin/time -v)",
                "peak_total_mb_note": "peak of the summed PSS of every process whose cwd or "
                f"command line is in the project, sampled every {SAMPLE_SECONDS} s",
                "per_node_overhead_note": "approximation: (cfcompile cold wall - stage seconds "
                "/ cores) / nodes; includes compile and Snakemake start-up",
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
