"""The long run of the reuse fuzzer: many generated experiments through every route and mode.

    python benchmarks/reuse_fuzz.py --in-process 2000 --compiled 200 --seed S
        [--subs 15] [--compiled-subs 12] [--minimize 8] [--resume] [--cfcompile-src DIR]
        [--timeout 120] [--hangs]
    python benchmarks/reuse_fuzz.py --replay benchmarks/out/reuse_fuzz.json [--finding N]
    python benchmarks/reuse_fuzz.py --replay spec.json [--route pipe --mode reuse]

Generated experiments (tests/fuzz/generate.py) are packed ``--subs`` to a project, so one CLI
call (one Snakemake start) runs many of them. Part one runs ``--in-process`` experiments
through ``--eager`` in each reuse mode (default, ``--reuse``, ``--no-reuse``); part two runs
``--compiled`` experiments through the README pipe, the pipe with ``CFCOMPILE_WORKER=0`` and
the pipe with ``--batch 1``, each in the three modes. Every output of every step is compared
with a fresh copy run with ``--eager --no-reuse`` (tests/fuzz/harness.py). Project ``i`` of a
part is drawn from seed ``S * 100003 + i`` (part two: ``+ 50000``), so any project replays
from its seed; the findings also keep their sub-experiment's spec.

Prints a table (experiments tried per route and mode, differences, refusals, throughput) and
writes benchmarks/out/reuse_fuzz.json after every project: ``--resume`` continues a stopped
run from there (the same arguments). Findings are reduced to their roots (a difference that
an upstream difference of the same set explains is counted, not listed), grouped by a
category read from the part of the stage's value that differs (which read, helper constant,
body constant or input), and the first finding of up to ``--minimize``
categories is shrunk to a minimal sub-experiment (greedy, re-running that route and mode).

``--cfcompile-src DIR`` tests the ``cfcompile`` package in DIR (for instance a snapshot of a
commit: ``git archive HEAD cfcompile | tar -x -C DIR``) instead of the installed one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fuzz import generate as G  # noqa: E402
from fuzz import harness as H  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "reuse_fuzz.json"
PARTS = {
    "in-process": {"routes": ("eager",), "compiled": False, "offset": 0},
    "compiled": {"routes": H.COMPILED_ROUTES, "compiled": True, "offset": 50000},
}


def project_seed(seed: int, part: str, i: int) -> int:
    return seed * 100003 + PARTS[part]["offset"] + i


def category(f: H.Finding, project: dict) -> tuple[str, str]:
    """Which kind of bug a root finding is: the part of the stage's value that differs
    (tests/fuzz/harness.py ``explain``)."""
    return H.explain(project, f)


def _git(*args: str) -> str:
    import subprocess

    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return proc.stdout.strip()


def fresh_state(args: argparse.Namespace) -> dict:
    return {
        "args": {k: v for k, v in vars(args).items() if k not in ("resume", "replay")},
        "cfcompile_src": args.cfcompile_src,
        "repo_head": _git("rev-parse", "HEAD"),
        "repo_dirty_cfcompile": bool(_git("status", "--porcelain", "cfcompile")),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "parts": {
            part: {"done": 0, "experiments": 0, "wall_seconds": 0.0, "combos": {}} for part in PARTS
        },
        "findings": [],
        "categories": {},
        "minimized": {},
    }


def add_result(state: dict, part: str, seed: int, result: H.ProjectResult, wall: float) -> None:
    entry = state["parts"][part]
    entry["done"] += 1
    n = len(result.project["subs"])
    entry["experiments"] += n
    entry["wall_seconds"] += wall
    subs = H.subs_by_name(result.project)
    root = H.roots(result.project, result.findings)
    all_keys = {(f.route, f.mode) for f in result.findings}
    for combo in result.combos:
        key = f"{combo.route}/{combo.mode}"
        c = entry["combos"].setdefault(
            key,
            {"experiments": 0, "projects": 0, "commands": 0, "seconds": 0.0, "findings": 0,
             "root_findings": 0, "experiments_with_findings": 0, "refused": 0,
             "refused_stages": 0, "copies": 0, "reference_refused_stages": 0},
        )  # fmt: skip
        mine = [f for f in root if (f.route, f.mode) == (combo.route, combo.mode)]
        c["experiments"] += n
        c["projects"] += 1
        c["commands"] += combo.commands
        c["seconds"] += combo.seconds
        c["findings"] += len(combo.findings)
        c["root_findings"] += len(mine)
        c["experiments_with_findings"] += len({f.sub for f in mine})
        c["refused"] += combo.refused
        c["refused_stages"] += combo.refused_stages
        c["copies"] += combo.copies
        c["reference_refused_stages"] += result.reference_refused
    del all_keys
    for f in root:
        sub = subs[f.sub]
        cat, detail = category(f, result.project)
        state["categories"][cat] = state["categories"].get(cat, 0) + 1
        record = {
            "part": part,
            "seed": seed,
            "category": cat,
            "detail": detail,
            **{k: v for k, v in f.__dict__.items() if k not in ("expected", "got")},
            "expected": f.expected[:20000] if f.expected else None,
            "got": f.got[:20000] if f.got else None,
            "spec": G.only_subs(result.project, [sub["k"]]),
        }
        state["findings"].append(record)


def save(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, default=str))
    os.replace(tmp, path)


def table(state: dict) -> str:
    rows = [
        ("part", "route/mode", "exps", "cmds", "secs", "exp/min", "roots", "exps w/ diff",
         "refused stages", "(ref)", "refused nodes", "copies"),
    ]  # fmt: skip
    for part, entry in state["parts"].items():
        for key, c in sorted(entry["combos"].items()):
            rate = c["experiments"] / (c["seconds"] / 60) if c["seconds"] else 0.0
            rows.append(
                (part, key, str(c["experiments"]), str(c["commands"]), f"{c['seconds']:.0f}",
                 f"{rate:.0f}", str(c["root_findings"]), str(c["experiments_with_findings"]),
                 str(c["refused_stages"]), str(c["reference_refused_stages"]), str(c["refused"]),
                 str(c["copies"]))
            )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    out = [
        "\n".join(lines),
        "exps: generated experiments tried; cmds/secs: CLI calls and their seconds; exp/min: "
        "experiments per minute of this route's own commands; roots: differences not explained "
        "by one upstream; refused stages: stages the route refused with an allowed error "
        "((ref): the reference's); refused nodes: outputs the reference has that the route "
        "refused; copies: outputs that say they are a copy of another set's",
        "",
    ]
    for part, entry in state["parts"].items():
        if entry["done"]:
            rate = entry["experiments"] / (entry["wall_seconds"] / 60)
            out.append(
                f"{part}: {entry['experiments']} experiments in {entry['done']} projects, "
                f"{entry['wall_seconds'] / 60:.1f} min wall (reference and compare included), "
                f"{rate:.0f} experiments/min through all of its routes and modes"
            )
    if state["categories"]:
        out.append("")
        out.append("root findings by category (the part of the value that differs):")
        for cat, n in sorted(state["categories"].items(), key=lambda kv: -kv[1]):
            first = next(f for f in state["findings"] if f["category"] == cat)
            out.append(
                f"  {n:5}  {cat}   e.g. seed {first['seed']} {first['stage']} "
                f"[{first['set'] or 'aggregate'}] {first['route']}/{first['mode']}"
            )
    for cat, m in state["minimized"].items():
        out.append("")
        out.append(f"minimal example, {cat} ({m['route']}/{m['mode']}, {m['kind']}):")
        out.append("  " + m["describe"])
        if m.get("finding"):
            out.append("  " + m["finding"])
    return "\n".join(out)


def run_part(args, state, part: str, count: int, workdir: Path) -> None:
    conf = PARTS[part]
    n_subs = args.subs if part == "in-process" else args.compiled_subs
    combos = H.all_combos(conf["routes"])
    entry = state["parts"][part]
    while entry["experiments"] < count:
        i = entry["done"]
        seed = project_seed(args.seed, part, i)
        n = min(n_subs, count - entry["experiments"])
        project = G.random_project(
            seed, n, compiled=conf["compiled"], max_steps=args.max_steps,
            allow_hang=args.hangs and conf["compiled"],
        )  # fmt: skip
        start = time.monotonic()
        print(f"[{part}] project {i} seed {seed}: {n} experiments, steps {project['steps']}",
              flush=True)  # fmt: skip
        result = H.check_project(project, workdir / f"{part}-{i}", combos, log=print)
        wall = time.monotonic() - start
        add_result(state, part, seed, result, wall)
        roots = H.roots(project, result.findings)
        print(f"  {len(roots)} root finding(s), {wall:.0f}s", flush=True)
        save(state, args.out)


def _size(f: dict) -> tuple:
    """Cheaper and smaller first: in-process before compiled, then the sub-experiment's size."""
    sub = f["spec"]["subs"][0]
    n = len(sub["stages"]) + len(sub["sets"]) + len(sub["extra"]) + len(sub["fields"])
    return (f["route"] != "eager", len(f["spec"]["steps"]), n)


def recategorize(state: dict) -> None:
    """Categories again, with this version's ``explain`` (after an update of the harness)."""
    fields = set(H.Finding.__dataclass_fields__)
    counts: dict[str, int] = {}
    for f in state["findings"]:
        finding = H.Finding(**{k: v for k, v in f.items() if k in fields})
        f["category"], f["detail"] = H.explain(f["spec"], finding)
        counts[f["category"]] = counts.get(f["category"], 0) + 1
    state["categories"] = counts


def minimize_some(args, state, workdir: Path) -> None:
    """Shrink the smallest (cheapest) finding of each category, most frequent first."""
    by_cat: dict[str, list[dict]] = {}
    for f in state["findings"]:
        by_cat.setdefault(f["category"], []).append(f)
    order = sorted(by_cat, key=lambda c: -len(by_cat[c]))
    for cat in order:
        if len(state["minimized"]) >= args.minimize:
            return
        if cat in state["minimized"]:
            continue
        f = min(by_cat[cat], key=_size)
        print(f"minimizing '{cat}': seed {f['seed']} {f['stage']} {f['route']}/{f['mode']}",
              flush=True)  # fmt: skip
        small, found = H.minimize(
            f["spec"], f["sub"], f["route"], f["mode"], f["kind"],
            workdir / "minimize", budget=args.budget, log=print, category=cat,
        )  # fmt: skip
        state["minimized"][cat] = {
            "route": f["route"],
            "mode": f["mode"],
            "kind": f["kind"],
            "seed": f["seed"],
            "spec": small,
            "describe": G.describe(small["subs"][0]) + f"\n  steps {small['steps']}",
            "finding": found[0].line() if found else None,
            "reproduced": bool(found),
        }
        save(state, args.out)


def replay(args) -> int:
    data = json.loads(Path(args.replay).read_text())
    combos = H.all_combos()
    if "findings" in data and "parts" in data:  # this script's output
        picks = data["findings"]
        if args.finding is not None:
            picks = [picks[args.finding]]
        projects = [(f["spec"], [(f["route"], f["mode"])]) for f in picks]
    elif "project" in data or "spec" in data:
        which = [(data["route"], data["mode"])] if "route" in data else combos
        projects = [(data.get("project") or data["spec"], which)]
    else:
        projects = [(data, combos)]
    if args.route or args.mode:
        routes = [args.route] if args.route else list(H.ROUTES)
        modes = [args.mode] if args.mode else list(H.MODES)
        projects = [(p, [(r, m) for r in routes for m in modes]) for p, _ in projects]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="reuse-fuzz-replay-") as tmp:
        for n, (project, which) in enumerate(projects):
            for sub in project["subs"]:
                print(G.describe(sub))
            result = H.check_project(project, Path(tmp) / str(n), which, keep=args.keep, log=print)
            roots = H.roots(project, result.findings)
            failed += bool(roots)
            for f in roots:
                print(f.line())
            if args.keep:
                print(f"copies kept under {Path(tmp) / str(n)} (removed at exit: copy them)")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-process", type=int, default=2000, help="experiments, --eager")
    parser.add_argument("--compiled", type=int, default=200, help="experiments, compiled routes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--subs", type=int, default=15, help="experiments per in-process project")
    parser.add_argument("--compiled-subs", type=int, default=12,
                        help="experiments per compiled project")  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=3, help="commands per sequence")
    parser.add_argument("--minimize", type=int, default=8, help="categories to shrink")
    parser.add_argument("--budget", type=int, default=40, help="runs per shrink")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--resume", action="store_true", help="continue --out's run")
    parser.add_argument("--reminimize", action="store_true",
                        help="with --resume: categorize and shrink the findings again")  # fmt: skip
    parser.add_argument("--cfcompile-src", default=None, help="test the cfcompile in this folder")
    parser.add_argument("--replay", default=None, help="a spec, or this script's output")
    parser.add_argument("--finding", type=int, default=None, help="with --replay: one finding")
    parser.add_argument("--route", choices=H.ROUTES, default=None)
    parser.add_argument("--mode", choices=H.MODES, default=None)
    parser.add_argument("--keep", action="store_true", help="with --replay: keep the copies")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds before a command counts as hung and is killed")  # fmt: skip
    parser.add_argument(
        "--hangs",
        action="store_true",
        help="compiled part: also `with Pool(...)` reads, which can hang a job",
    )
    args = parser.parse_args()
    if args.cfcompile_src:
        os.environ[H.SRC_VAR] = os.path.abspath(args.cfcompile_src)
    H.TIMEOUT = args.timeout
    if args.replay:
        return replay(args)
    if args.resume and args.out.exists():
        state = json.loads(args.out.read_text())
        print(f"resuming: {state['parts']['in-process']['experiments']} in-process and "
              f"{state['parts']['compiled']['experiments']} compiled experiments done")  # fmt: skip
    else:
        state = fresh_state(args)
    if args.resume and args.reminimize:
        recategorize(state)
        state["minimized"] = {}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reuse-fuzz-", dir=args.workdir) as tmp:
        run_part(args, state, "in-process", args.in_process, Path(tmp))
        run_part(args, state, "compiled", args.compiled, Path(tmp))
        minimize_some(args, state, Path(tmp))
    state["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    state["this_session_seconds"] = time.monotonic() - start
    save(state, args.out)
    print()
    print(table(state))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
