"""Helpers every test module shares: real projects on disk and the real CLI in a subprocess.

Test projects live as real files under ``tests/projects/NAME``; ``project_files(NAME)`` reads
one as {relative path: source} so a test can change a file before writing its own copy.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IRIS = REPO / "workflows" / "iris"
PROJECTS = REPO / "tests" / "projects"


def project_files(name: str) -> dict[str, str]:
    """A test project under tests/projects as {relative path: source}."""
    root = PROJECTS / name
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


CHAIN = project_files("chain")


def workflow_info(tmp_path: Path, experiment: str = "t"):
    """A WorkflowInfo for graphs built directly from a TraceEngine in unit tests."""
    from cfcompile.core.workdir import WorkflowInfo

    return WorkflowInfo(
        project_root=str(tmp_path),
        experiment=experiment,
        param_modules=[],
        cache_path=str(tmp_path / "cache"),
        prefix=None,
        python=sys.executable,
        workdir=str(tmp_path / "wf"),
    )


def trace_graph(run, sets, tmp_path: Path, experiment: str = "t"):
    """Trace ``run(sets, manager)`` in process; returns (StageGraph, manager)."""
    import cfcompile as cf
    from cfcompile.compiler import graph
    from cfcompile.compiler.trace import TraceEngine

    engine = TraceEngine(str(tmp_path / "sources"))
    manager = cf.ArtifactManager(experiment, cache_path=str(tmp_path / "cache"), engine=engine)
    run(sets, manager)
    info = workflow_info(tmp_path, experiment)
    return graph.build(engine.nodes, engine.params, engine.specs, info), manager


@contextlib.contextmanager
def tracing_in_process(tmp_path: Path):
    """Trace a project in this process, then forget its modules and the curifactory alias.

    Every test project has top-level ``params``/``experiments`` packages, and other tests (the
    curifactory oracle) import the real curifactory in process. Yields
    ``trace(root, experiment, params_module) -> (StageGraph, plan)``.
    """
    from cfcompile.compiler.plan import plan
    from cfcompile.compiler.trace import trace_project
    from cfcompile.project.discover import Project

    saved_path = list(sys.path)

    def ours(name: str) -> bool:
        return name.split(".")[0] in ("params", "experiments", "curifactory")

    saved = {m: sys.modules.pop(m) for m in [m for m in sys.modules if ours(m)]}

    def trace(root, experiment, params_module):
        sg = trace_project(Project(root), experiment, [params_module], str(tmp_path / "wf"))
        return sg, plan(sg)

    try:
        yield trace
    finally:
        for name in [m for m in sys.modules if ours(m)]:
            del sys.modules[name]
        sys.modules.update(saved)
        sys.path[:] = saved_path


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Create a project from {relative path: source}; sources are dedented."""
    (root / "experiments").mkdir(parents=True, exist_ok=True)
    (root / "params").mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def run_cli(*args: str, cwd: Path, check: bool = True, env: dict | None = None, input=None):
    """The real console entry point in a fresh interpreter (as a researcher would run it)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "cfcompile.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"cfcompile {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
            f"stderr:\n{proc.stderr}"
        )
    return proc


def compiled_info(root: Path, experiment: str) -> dict:
    """workflow.json of the newest compiled version of ``experiment`` in project ``root``."""
    import json

    workdir = root / ".cfcompile" / experiment
    version = workdir / "v" / (workdir / "current").read_text().strip()
    return json.loads((version / "workflow.json").read_text())


# The command the README runs: the ``snakemake`` script beside this interpreter. ``python -m
# snakemake`` would put the working directory (a project root, which may hold a ``random.py``)
# first on ``sys.path``; that is Python's rule for ``-m``, not a path a user takes.
_SCRIPT = Path(sys.executable).parent / "snakemake"
SNAKEMAKE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-P", "-m", "snakemake"]


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table from a dry run."""
    rows, in_table = [], False
    for line in dry_run_output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit():
            rows.append((parts[0], int(parts[1])))
        elif in_table and rows:
            break
    # the last row is Snakemake's "total" (a stage may be called total, too)
    return dict(rows[:-1])


def snakemake(*args: str, cwd: Path, stdin: str | None = None, check: bool = True):
    """The real Snakemake in a subprocess; raises with its output when it fails (``check``)."""
    proc = subprocess.run(
        [*SNAKEMAKE, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def pipe(
    root: Path,
    *args: str,
    cores: str = "1",
    snakemake_args: tuple[str, ...] = (),
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """``cfcompile ARGS | snakemake -s /dev/stdin --cores N``, as the README writes it (with
    pipefail, so a failing compile is not hidden)."""
    cmd = (
        f"set -o pipefail; {sys.executable} -m cfcompile.cli {' '.join(args)} | "
        f"{' '.join(SNAKEMAKE)} -s /dev/stdin --cores {cores} {' '.join(snakemake_args)}"
    )
    return subprocess.run(
        ["bash", "-c", cmd],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


# -- a real browser -------------------------------------------------------------------------------
def find_chromium() -> str:
    """Chromium's path, or skip the test saying how to install it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium not installed (scripts/install-system-deps.sh)")
    return chromium


def browse(chromium: str, url: str, profile: Path, screenshot: Path | None = None, height=1400):
    """The DOM after the page's load handler ran (or a screenshot), at a fixed 1280 px width."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size=1280,{height}",
        f"--user-data-dir={profile}",
    ]
    what = [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run(
        [chromium, *flags, *what, url], capture_output=True, text=True, timeout=180
    )
    if screenshot:
        assert screenshot.exists(), proc.stderr[-2000:]
    return proc.stdout


def body_data(dom: str) -> dict[str, str]:
    """The data-* attributes the report's load handler set on <body>."""
    body = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))


# -- the route-equivalence experiment (tests/projects/routes) ------------------------------------
ROUTES = project_files("routes")
SETS = [f"s{i}" for i in range(4)]
FIRST_SEEDED = random.Random(42).random()


def route_setup(tmp_path: Path, name: str) -> tuple[Path, dict, Path]:
    root = write_project(tmp_path / name, ROUTES)
    ext = tmp_path / f"{name}-ext"
    ext.mkdir()
    (ext / "helper_outside.py").write_text('VERSION = "v1"\n')
    (ext / "data.txt").write_text("old\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ext),
        "ROUTES_DATA": str(ext / "data.txt"),
        "ROUTES_FOO": "a",
    }
    return root, env, ext


def edit(ext: Path) -> None:
    (ext / "helper_outside.py").write_text('VERSION = "v2"\n')
    (ext / "data.txt").write_text("edited\n")


def route_cfcompile(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "cfcompile.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def seen(root: Path) -> dict[str, dict]:
    """What each node returned: {(stage, set): value}."""
    out = {}
    for path in (root / "data" / "cache").glob("routes_*_metadata.json"):
        meta = json.loads(path.read_text())
        artifact = Path(str(path).removesuffix("_metadata.json") + ".json")
        out[(meta["stage"], meta["params_name"])] = json.loads(artifact.read_text())
    assert len(out) == 2 * len(SETS), sorted(out)
    return out


def check_fresh(values: dict, route: str) -> None:
    """What a fresh process per node gives."""
    probes = [values[("probe", s)] for s in SETS]
    for v in probes:
        assert v["seeded"] == FIRST_SEEDED, route  # a fresh module: the generator's first draw
        assert v["from_params"] == random.Random(int(v_set(v, values))).random(), route
        assert (v["foo"], v["foo_now"]) == ("b", "b"), route  # the job's environment
        assert (v["helper"], v["data"]) == ("v2", "edited"), route  # the files as they are
        assert not v["shadowed"] and "site-packages" not in v["random_module"], route
        assert v["gc_threshold"] == list(gc.get_threshold()), route  # the interpreter's own
        assert v["gc_frozen"] == 0, route
    for field in ("unseeded", "np_unseeded", "global_unseeded"):
        assert len({v[field] for v in probes}) == len(SETS), (route, field)
    assert len({v["np_seeded"] for v in probes}) == 1, route
    for s in SETS:  # the second stage of a chain is a node of its own: a fresh module again
        assert values[("after", s)]["seeded"] == FIRST_SEEDED, (route, s)


def v_set(v: dict, values: dict) -> int:
    (name,) = [s for s in SETS if values[("probe", s)] is v]
    return int(name[1:])
