"""curifactory's own examples, unmodified, run by curifactory 0.20.5 and by cfcompile.

Each example (tests/projects/curifactory_examples, see its NOTICE.md; the ``harness-*`` cases
are repo-root's test examples in curifactory's test-harness layout: plain ``experiments/`` and
``params/``, the ``test`` package on PYTHONPATH only) runs three times, each in
its own fresh copy of the project: by curifactory's ``experiment`` command (the reference), by
``cfcompile ARGS --eager`` and by ``cfcompile ARGS | snakemake -s /dev/stdin --cores 2``. The
first two go through curifactory_run.py, which calls the command's own entry point and also
dumps what the records held in memory at the end. The two cfcompile runs must leave the
reference's cache files, with the same values, and the eager run must end with the same values
in memory (outputs without a cacher have no file); where curifactory raises, cfcompile must fail
with the same exception type. Then the iris example
shares its cache both ways: cfcompile finds curifactory's cache warm and curifactory finds
cfcompile's.

What is compared, and why:
- Files: everything under the cache folder (``cache_path`` of the project's
  curifactory_config.json, else curifactory's default ``data/cache``), recursively. Not the
  manager folder above it (``params_registry.json``, ``store.json``), logs, reports or run
  folders: those are curifactory's run bookkeeping, which a compiled run does not keep
  (docs/semantics.md). A compiled run may have more files, and only these: a ``.pkl`` (and its
  metadata) for an output that curifactory keeps only in memory (no cacher: a compiled job hands
  it to the next job through the file, docs/compiling.md), whose value must equal what
  curifactory's record held, and ``STAGE_cfcompile_done.json`` for a stage without outputs.
- Values: JSON loaded, pickles unpickled and compared structurally (numpy arrays element by
  element, objects such as scikit-learn models by their pickled state), images by their pixels.
  A reportable is compared by class name and every attribute curifactory gives it except its
  render bookkeeping (``record``, ``rendered``, ``copied``, ``cache_path``, ``path``). Paths in
  ``_reportables_file_list.json`` are compared relative to the project root (curifactory writes
  them relative to its working directory). Metadata is compared on the keys that describe the
  artifact and do not depend on when, where or in which process it was made: params_hash,
  params_name, stage, artifact_name, params, extra, record_prior_stages and the cacher's class
  name (not artifact_generated, manager_run_info, preview, record_name or prior_records: times,
  hosts, a display string and curifactory's in-process record numbering).
- lazy.py draws its arrays from an unseeded ``np.random.rand``: its values differ between any
  two runs of any tool, so only their type, shape and dtype are compared, and the compiled run
  is checked within itself (the resolved input is the cached array).

No expected value is written here: every expectation comes from the reference run.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import PROJECTS, REPO, SNAKEMAKE, pipe, run_cli

pytest.importorskip("curifactory", reason="curifactory 0.20.5 is the test oracle")
np = pytest.importorskip("numpy")

pytestmark = pytest.mark.oracle

EXAMPLES = PROJECTS / "curifactory_examples"
DRIVER = Path(__file__).resolve().parent / "curifactory_run.py"
COMPILED = ("eager", "snakemake")


@dataclass(frozen=True)
class Case:
    id: str
    # "examples" or "repo-root" (tests/projects/curifactory_examples/...), or "harness":
    # repo-root's test/examples/experiments and params as a project's plain experiments/ and
    # params/, the `test` package only on PYTHONPATH (see harness_copy)
    project: str
    args: tuple[str, ...] = ()  # the experiment command's arguments, the same for both tools
    script: str | None = None  # a script that builds its own ArtifactManager
    random: bool = False  # values come from an unseeded RNG: compare type/shape/dtype only
    modes: tuple[str, ...] = COMPILED


CASES = [
    Case("iris", "examples", ("iris",)),
    Case("lazy", "examples", ("lazy",), random=True),
    Case("reload-reportables", "examples", ("reload-reportables",)),
    # a script has no run() to compile: `python -m cfcompile.experiment FILE` runs it in process
    Case("manual", "examples", script="experiments/manual.py", modes=("eager",)),
    Case("basic", "repo-root", ("basic", "-p", "params1", "-p", "params2")),
    Case("simple_cache", "repo-root", ("simple_cache",)),
    Case("image_reporter", "repo-root", ("image_reporter", "-p", "image_reporter")),
    Case("subexp.example", "repo-root", ("subexp.example", "-p", "subparams.thing")),
    Case("harness-basic", "harness", ("basic", "-p", "params1", "-p", "params2")),
    Case("harness-simple_cache", "harness", ("simple_cache",)),
    Case("harness-image_reporter", "harness", ("image_reporter", "-p", "image_reporter")),
    Case("harness-subexp.example", "harness", ("subexp.example", "-p", "subparams.thing")),
]
FAILING = [
    Case("basic-empty", "repo-root", ("basic", "-p", "empty")),
    Case("basic-nonarrayargs", "repo-root", ("basic", "-p", "nonarrayargs")),
    Case(
        "basic-unknown-name",
        "repo-root",
        ("basic", "-p", "params1", "-p", "params2", "--names", "test4"),
    ),
]
IRIS = CASES[0]
BASIC = next(c for c in CASES if c.id == "basic")


@dataclass
class Run:
    case: Case
    tool: str
    root: Path
    proc: subprocess.CompletedProcess
    seconds: float
    memory: list = field(default_factory=list)  # the records at the end (curifactory_run.py)
    raised: dict | None = None  # run_experiment's exception: {"mro": [...], "message": ...}

    @property
    def output(self) -> str:
        return f"{self.proc.stdout}\n{self.proc.stderr}"

    @property
    def cache(self) -> Path:
        return cache_dir(self.root)

    def check(self) -> None:
        """The run succeeded: exit status 0 and no traceback (curifactory's ``experiment``
        logs an exception raised inside run() and still exits 0)."""
        if self.proc.returncode != 0 or "Traceback (most recent call last)" in self.output:
            tail = "\n".join(self.output.strip().splitlines()[-40:])
            raise AssertionError(
                f"{self.tool} run of {self.case.id} failed (exit {self.proc.returncode}) in "
                f"{self.root}:\n{tail}"
            )


def config(root: Path) -> dict:
    path = root / "curifactory_config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def cache_dir(root: Path) -> Path:
    """curifactory's cache folder for a project (utils.get_configuration's default)."""
    return root / config(root).get("cache_path", "data/cache")


def logs_dir(root: Path) -> Path:
    return root / config(root).get("logs_path", "logs/")


def on_pythonpath(*folders: Path) -> dict:
    """This environment with ``folders`` first on PYTHONPATH (which may be unset: CI uses the
    installed package)."""
    paths = [*map(str, folders), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def curifactory_env(root: Path) -> dict:
    # `experiment` appends the working directory to sys.path after the standard library,
    # whose own `test` package would shadow repo-root/test (curifactory's suite runs these
    # under pytest, which puts the root first); see the examples' NOTICE.md
    return on_pythonpath(root)


def library(root: Path) -> Path:
    """Where a harness project's `test` package lives: beside the project, not inside it."""
    return root.parent / f"{root.name}.pythonpath"


def tool_env(case: Case, tool: str, root: Path) -> dict | None:
    """PYTHONPATH for a run: curifactory's `experiment` needs the project root there (see
    curifactory_env), cfcompile must find it itself; a harness project's `test` package is
    reachable through PYTHONPATH only, for both tools."""
    folders = [library(root)] if case.project == "harness" else []
    if tool.startswith("curifactory"):
        folders.insert(0, root)
    return on_pythonpath(*folders) if folders else None


def harness_copy(dest: Path) -> Path:
    """curifactory's own test harness as a project in the default layout: its example
    experiments and parameter files as plain ``experiments/`` and ``params/`` (no
    curifactory_config.json), and the ``test`` package they import their stages and parameter
    class from (``test.examples.stages``, ``test.examples.params.basic``) in a folder that
    only PYTHONPATH names, where it must win over the standard library's own ``test``."""
    ignore = shutil.ignore_patterns("__pycache__", "data")
    source = EXAMPLES / "repo-root" / "test"
    shutil.copytree(source / "examples" / "experiments", dest / "experiments", ignore=ignore)
    shutil.copytree(source / "examples" / "params", dest / "params", ignore=ignore)
    shutil.copytree(source, library(dest) / "test", ignore=ignore)
    return dest


def fresh_copy(case: Case, dest: Path) -> Path:
    if case.project == "harness":
        return harness_copy(dest)
    shutil.copytree(
        EXAMPLES / case.project, dest, ignore=shutil.ignore_patterns("__pycache__", "data")
    )
    return dest


CFCOMPILE = shutil.which("cfcompile", path=os.path.dirname(sys.executable))


def compiled_run(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`cfcompile ARGS | snakemake -s /dev/stdin --cores 2` as the README writes it, with the
    console script (whose sys.path starts with its own folder, not the working directory as
    `python -m` would)."""
    if CFCOMPILE is None:
        return pipe(root, *args, cores="2", env=env)
    command = f"set -o pipefail; {shlex.join([CFCOMPILE, *args])} | {shlex.join(SNAKEMAKE)}"
    return subprocess.run(
        ["bash", "-c", f"{command} -s /dev/stdin --cores 2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def run_tool(case: Case, tool: str, root: Path) -> Run:
    """One run in ``root``: curifactory's `experiment` (or `python SCRIPT`), `cfcompile ...
    --eager` (both through curifactory_run.py, which calls the command's own entry point and
    dumps what the records held in memory), or `cfcompile ... | snakemake`."""
    dump = root.parent / f"{root.name}.memory.pkl"
    start = time.monotonic()
    if tool == "snakemake":
        proc = compiled_run(root, *case.args, env=tool_env(case, tool, root))
    else:
        if tool.endswith("run_experiment"):
            command = ["run_experiment", *case.args]
            command = command if tool.startswith("curifactory") else ["--cfcompile", *command]
        elif case.script:
            command = ["--script", case.script]
            command = command if tool == "curifactory" else ["--cfcompile", *command]
        elif tool == "curifactory":
            command = ["experiment", *case.args]
        else:
            command = ["cfcompile", *case.args, "--eager"]
        proc = subprocess.run(
            [sys.executable, str(DRIVER), str(dump), *command],
            cwd=root,
            capture_output=True,
            text=True,
            env=tool_env(case, tool, root),
            timeout=300,
        )
    run = Run(case, tool, root, proc, time.monotonic() - start)
    if dump.exists() and tool.endswith("run_experiment"):
        run.raised = pickle.loads(dump.read_bytes())
    elif dump.exists():
        run.memory = pickle.loads(dump.read_bytes())
    return run


class Runs:
    """Each (example, tool) runs once per module, in its own fresh copy of the project."""

    def __init__(self, base: Path):
        self.base = base
        self.done: dict[tuple[str, str], Run] = {}

    def get(self, case: Case, tool: str) -> Run:
        key = (case.id, tool)
        if key not in self.done:
            root = fresh_copy(case, self.base / f"{tool}-{case.id}")
            self.done[key] = run_tool(case, tool, root)
        return self.done[key]

    def reference(self, case: Case) -> Run:
        run = self.get(case, "curifactory")
        run.check()  # a failing reference makes every comparison meaningless
        return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = Runs(tmp_path_factory.mktemp("curifactory_examples"))
    yield runs
    timings = ", ".join(f"{t} {c} {r.seconds:.1f}s" for (c, t), r in sorted(runs.done.items()))
    print(f"\nrun times: {timings}")


# -- loading and comparing cache files --------------------------------------------------------
def cache_files(cache: Path) -> dict[str, Path]:
    if not cache.exists():
        return {}
    return {p.relative_to(cache).as_posix(): p for p in cache.rglob("*") if p.is_file()}


RENDER_STATE = {"record", "rendered", "copied", "cache_path", "path"}
PATH_ATTRIBUTES = {"image_path"}
METADATA_KEYS = (
    "params_hash",
    "params_name",
    "stage",
    "artifact_name",
    "params",
    "extra",
    "record_prior_stages",
)


def relative(root: Path, path: str) -> str:
    """A path written by either tool, relative to the project root it ran in."""
    p = Path(path)
    return os.path.relpath(p if p.is_absolute() else root / p, root)


def is_reportable(value) -> bool:
    return hasattr(value, "qualified_name") and hasattr(value, "stage")


def reportable_view(value, root: Path) -> dict:
    view = {k: v for k, v in vars(value).items() if k not in RENDER_STATE}
    for key in PATH_ATTRIBUTES & view.keys():
        if isinstance(view[key], str):
            view[key] = relative(root, view[key])
    return {"class": type(value).__name__, **view}


def load(path: Path, root: Path):
    """A cache file's value, in the form that is compared (see the module docstring)."""
    name = path.name
    if name.endswith("_metadata.json"):
        meta = json.loads(path.read_text())
        view = {k: meta[k] for k in METADATA_KEYS if k in meta}
        cacher = re.search(r"([\w]+)'?>?$", str(meta.get("cacher_type", "")))
        view["cacher"] = cacher.group(1) if cacher else None
        return view
    if name.endswith("_reportables_file_list.json"):
        return [relative(root, p) for p in json.loads(path.read_text())]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".pkl":
        value = pickle.loads(path.read_bytes())
        return reportable_view(value, root) if is_reportable(value) else value
    if path.suffix == ".png":
        import matplotlib.image

        return matplotlib.image.imread(str(path))
    return path.read_bytes()


def difference(ours, theirs, values: bool = True, where: str = "value") -> str | None:
    """None when equal, else where the first difference is (structural, recursive)."""
    if isinstance(theirs, np.ndarray) or isinstance(ours, np.ndarray):
        if not (isinstance(theirs, np.ndarray) and isinstance(ours, np.ndarray)):
            return f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
        if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
            return f"{where}: {ours.shape}/{ours.dtype} != {theirs.shape}/{theirs.dtype}"
        nan = ours.dtype.kind in "fc"
        if values and not np.array_equal(ours, theirs, equal_nan=nan):
            return f"{where}: arrays differ"
        return None
    if type(ours).__name__ != type(theirs).__name__:
        return f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
    if isinstance(theirs, dict):
        if set(ours) != set(theirs):
            return f"{where}: keys {sorted(map(str, ours))} != {sorted(map(str, theirs))}"
        for key in theirs:
            if d := difference(ours[key], theirs[key], values, f"{where}[{key!r}]"):
                return d
        return None
    if isinstance(theirs, list | tuple):
        if len(ours) != len(theirs):
            return f"{where}: {ours!r:.200} != {theirs!r:.200}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if d := difference(a, b, values, f"{where}[{i}]"):
                return d
        return None
    if isinstance(theirs, str | bytes | int | float | bool | type(None)):
        if values and ours != theirs and not (ours != ours and theirs != theirs):  # NaN == NaN
            return f"{where}: {ours!r} != {theirs!r}"
        return None
    state = getattr(theirs, "__getstate__", None)
    if state is not None and not isinstance(theirs, type):
        return difference(ours.__getstate__(), state(), values, f"{where}.<state>")
    if values and ours != theirs:
        return f"{where}: {ours!r} != {theirs!r}"
    return None


def reportable_difference(ours: dict, theirs: dict) -> str | None:
    """Every attribute curifactory's reportable has must be on cfcompile's, equal."""
    if ours.get("class") != theirs["class"]:
        return f"class {ours.get('class')} != {theirs['class']}"
    missing = sorted(set(theirs) - set(ours))
    if missing:
        return f"{theirs['class']} lacks curifactory's attributes {missing}"
    return difference({k: ours[k] for k in theirs}, theirs, where=theirs["class"])


def memory_outputs(reference: Run) -> dict[str, object]:
    """File name -> value for every output curifactory kept only in memory (no cache file),
    plus the completion markers of stages without outputs, as a compiled run names them."""
    cached = set(cache_files(reference.cache))
    explained: dict[str, object] = {}
    for manager in reference.memory:
        prefix = manager["prefix"]
        for record in manager["records"]:
            for stage, outputs in record["stages"]:
                base = f"{prefix}_{record['hash']}_{stage}"
                if not outputs:
                    explained[f"{base}_cfcompile_done.json"] = None
                for output in outputs:
                    stem = f"{base}_{output}"
                    if any(n.split("/")[-1].startswith(stem + ".") for n in cached):
                        continue
                    explained[f"{stem}_metadata.json"] = None
                    explained[f"{stem}.pkl"] = record["state"].get(output, KeyError(output))
    return explained


# -- the examples: same cache files, same values ------------------------------------------------
MODE_CASES = [pytest.param(m, c, id=f"{m}-{c.id}") for c in CASES for m in c.modes]


@pytest.mark.parametrize("mode,case", MODE_CASES)
def test_same_cache_files(runs, mode, case):
    reference = runs.reference(case)
    run = runs.get(case, mode)
    run.check()
    theirs, ours = set(cache_files(reference.cache)), set(cache_files(run.cache))
    missing = sorted(theirs - ours)
    extra = ours - theirs
    if mode == "snakemake":
        extra -= set(memory_outputs(reference))
    assert not missing and not extra, (
        f"{case.id} under {mode}: missing {missing}, unexpected {sorted(extra)} (cache "
        f"{run.cache}; curifactory's: {sorted(theirs)})"
    )


@pytest.mark.parametrize("mode,case", MODE_CASES)
def test_same_cache_values(runs, mode, case):
    reference = runs.reference(case)
    run = runs.get(case, mode)
    run.check()
    theirs, ours = cache_files(reference.cache), cache_files(run.cache)
    problems = []
    for name in sorted(theirs.keys() & ours.keys()):
        a, b = load(ours[name], run.root), load(theirs[name], reference.root)
        if "_reportables/" in name and name.endswith(".pkl"):  # pickled reportables
            d = reportable_difference(a, b) if isinstance(a, dict) else f"{a!r} is no reportable"
        else:
            d = difference(a, b, values=not case.random)
        if d:
            problems.append(f"{name}: {d}")
    if mode == "snakemake":
        for name, value in memory_outputs(reference).items():
            if name in ours and name.endswith(".pkl"):
                d = difference(load(ours[name], run.root), value, values=not case.random)
                if d:
                    problems.append(f"{name} (curifactory kept it in memory): {d}")
    assert not problems, f"{case.id} under {mode}:\n" + "\n".join(problems)


def values_in_memory(run: Run) -> dict[tuple[str, str], object]:
    """(record hash, artifact name) -> value, over every record of every manager of a run."""
    return {
        (record["hash"], key): value
        for manager in run.memory
        for record in manager["records"]
        for key, value in record["state"].items()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_values_in_memory(runs, case):
    """In process (--eager), every artifact the records hold at the end, cached or not, is
    curifactory's: the outputs without a cacher (basic's sums, iris's scores) have no file to
    compare."""
    reference = runs.reference(case)
    run = runs.get(case, "eager")
    run.check()
    theirs, ours = values_in_memory(reference), values_in_memory(run)
    assert theirs, "the reference dumped no records"
    assert set(ours) == set(theirs), (
        f"missing {sorted(set(theirs) - set(ours))}, unexpected {sorted(set(ours) - set(theirs))}"
    )
    problems = [
        f"{key}: {d}"
        for key in sorted(theirs)
        if (d := difference(ours[key], theirs[key], values=not case.random))
    ]
    assert not problems, "\n".join(problems)


def test_lazy_inputs_resolve_to_the_cached_array(runs):
    """lazy.py: use_big_data_directly gets the cached big_data (resolved), and halves it; the
    compiled run persists both, so the relation is checked within that one run."""
    case = next(c for c in CASES if c.id == "lazy")
    reference = runs.reference(case)
    run = runs.get(case, "snakemake")
    run.check()
    files = cache_files(run.cache)
    checked = 0
    for manager in reference.memory:
        for record in manager["records"]:
            stages = dict(record["stages"])
            if "use_big_data_directly" not in stages:
                continue
            base = f"{manager['prefix']}_{record['hash']}"
            big = pickle.loads(files[f"{base}_make_big_data_big_data.pkl"].read_bytes())
            half = files[f"{base}_use_big_data_directly_modified_big_data.pkl"]
            assert np.array_equal(pickle.loads(half.read_bytes()), big / 2)
            checked += 1
    assert checked == 1, "the reference ran use_big_data_directly once (LazyResolve)"


# -- examples curifactory makes raise -----------------------------------------------------------
def exception_type(text: str) -> str | None:
    found = re.findall(r"^(\w+(?:Error|Exception)): ", text, flags=re.M)
    return found[-1] if found else None


@pytest.mark.parametrize("mode", COMPILED)
@pytest.mark.parametrize("case", FAILING, ids=[c.id for c in FAILING])
def test_refused_where_curifactory_raises(runs, mode, case):
    """Where `experiment` raises, the cfcompile command refuses too (its CLI prints one
    `cfcompile: error:` line by design, docs/semantics.md; the type is compared below)."""
    reference = runs.get(case, "curifactory")
    assert reference.proc.returncode != 0 and exception_type(reference.proc.stderr), (
        f"curifactory was expected to raise on {case.args}:\n{reference.output[-2000:]}"
    )
    run = runs.get(case, mode)
    assert run.proc.returncode != 0, f"cfcompile {mode} accepted {case.args}:\n{run.output}"
    assert not cache_files(run.cache), "a refused run wrote to the cache"
    # and it is these arguments that it refuses: the same experiment runs with good ones
    runs.get(BASIC, mode).check()


@pytest.mark.parametrize("case", FAILING, ids=[c.id for c in FAILING])
def test_same_exception_type_as_curifactory(runs, case):
    """curifactory.experiment.run_experiment with the same arguments raises, under cfcompile,
    an instance of the class curifactory raises (`except RuntimeError:` keeps working); the
    class is the one the `experiment` command's traceback names."""
    named = exception_type(runs.get(case, "curifactory").proc.stderr)
    theirs = runs.get(case, "curifactory-run_experiment").raised
    assert theirs and theirs["mro"][0] == named, (theirs, named)
    ours = runs.get(case, "cfcompile-run_experiment")
    assert ours.raised, f"cfcompile's run_experiment raised nothing:\n{ours.output[-3000:]}"
    assert named in ours.raised["mro"], (
        f"curifactory raises {named}; cfcompile raised {ours.raised['mro'][0]} "
        f"({ours.raised['message']}), a subclass of {ours.raised['mro'][1:]}"
    )


# -- iris: caches shared both ways --------------------------------------------------------------
STAGE_RAN = re.compile(r"Stage (?:\(aggregate\) )?(\w+) executing")


def stages_run_by_curifactory(root: Path) -> Counter:
    """Stages curifactory executed in its newest run (its log file), not loaded from cache."""
    newest = max(logs_dir(root).glob("*.log"), key=lambda p: p.stat().st_mtime_ns)
    return Counter(STAGE_RAN.findall(newest.read_text()))


def snapshot(cache: Path) -> dict[str, int]:
    return {name: p.stat().st_mtime_ns for name, p in cache_files(cache).items()}


def rewritten(before: dict[str, int], cache: Path, rerun: set[str]) -> list[str]:
    """Files that changed although no stage that reruns anyway owns them."""
    after = snapshot(cache)
    return sorted(
        name
        for name, mtime in before.items()
        if after.get(name) != mtime and not any(f"_{stage}_" in name for stage in rerun)
    )


@pytest.fixture(scope="module")
def curifactory_warm(runs, tmp_path_factory):
    """What curifactory itself executes again on its own warm iris cache: the stages it never
    caches (no cachers). Both directions below must rerun exactly these."""
    reference = runs.reference(IRIS)
    root = tmp_path_factory.mktemp("warm") / "iris"
    shutil.copytree(reference.root, root)
    rerun = run_tool(IRIS, "curifactory", root)
    rerun.check()
    return stages_run_by_curifactory(root)


def test_cfcompile_finds_curifactory_cache_warm(runs, curifactory_warm, tmp_path):
    root = tmp_path / "iris"
    shutil.copytree(runs.reference(IRIS).root, root)
    plan = json.loads(run_cli("iris", "--dry-run", "--json", cwd=root).stdout)
    to_run = Counter(n["stage"] for n in plan["nodes"] if n["status"] != "cached")
    assert to_run == curifactory_warm, (
        f"cfcompile would run {dict(to_run)} on curifactory's cache; curifactory itself reruns "
        f"{dict(curifactory_warm)}"
    )
    before = snapshot(cache_dir(root))
    proc = compiled_run(root, "iris")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not rewritten(before, cache_dir(root), set(curifactory_warm))


def test_curifactory_finds_cfcompile_cache_warm(runs, curifactory_warm, tmp_path):
    """From the compiled run's cache (the eager run writes the same files, compared above)."""
    mode = "snakemake"
    source = runs.get(IRIS, mode)
    source.check()
    root = tmp_path / "iris"
    shutil.copytree(source.root, root)
    before = snapshot(cache_dir(root))
    run = run_tool(IRIS, "curifactory", root)
    run.check()
    executed = stages_run_by_curifactory(root)
    assert executed == curifactory_warm, (
        f"on cfcompile's ({mode}) cache curifactory executed {dict(executed)}; on its own warm "
        f"cache it executes {dict(curifactory_warm)}"
    )
    assert not rewritten(before, cache_dir(root), set(curifactory_warm))


# -- the bundled workflows under curifactory (README: keeping a project portable) ---------------
README = (REPO / "README.md").read_text()
PORTABLE = README.split("## Keeping a project portable between cfcompile and curifactory")[-1]
PORTABLE = PORTABLE.split("\n## ")[0]
WORKFLOWS = [("iris", ("-p", "base")), ("sweep", ("-p", "random"))]


def readme_keywords() -> set[str]:
    """The keywords the README's portability section names as cfcompile-only."""
    start = PORTABLE.index("The cfcompile-only keywords of")
    bullet = re.split(r"\n\s*\n|\n- ", PORTABLE[start:])[0]
    return set(re.findall(r"`(\w+)=`", bullet))


def test_readme_names_exactly_the_cfcompile_only_keywords():
    import inspect

    import curifactory

    import cfcompile

    ours = set()
    for decorator in ("stage", "aggregate"):
        theirs = set(inspect.signature(getattr(curifactory, decorator)).parameters)
        ours |= set(inspect.signature(getattr(cfcompile, decorator)).parameters) - theirs
    assert readme_keywords() == ours


CFCOMPILE_IMPORT = re.compile(r"^(import|from) cfcompile(\.caching|\.reporting)?(?= )", re.M)


def curifactory_imports(source: str) -> str:
    """The README's first rule: the API through curifactory's names (cfcompile.sweeps stays)."""
    return CFCOMPILE_IMPORT.sub(lambda m: f"{m.group(1)} curifactory{m.group(2) or ''}", source)


def portable(source: str, keywords: set[str]) -> str:
    """The README's recipe applied to an experiment or parameter file: curifactory's names,
    and the cfcompile-only keywords passed only when cfcompile is the library."""
    tree = ast.parse(curifactory_imports(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in (
            "stage",
            "aggregate",
        ):
            extra = [k for k in node.keywords if k.arg in keywords]
            if not extra:
                continue
            only_cfcompile = ast.parse(
                "dict() if cf.__name__ == 'cfcompile' else {}", mode="eval"
            ).body
            only_cfcompile.body.keywords = extra
            node.keywords = [k for k in node.keywords if k.arg not in keywords]
            node.keywords.append(ast.keyword(arg=None, value=only_cfcompile))
    return ast.unparse(tree)


def experiment(root: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("experiment", path=os.path.dirname(sys.executable)) or "experiment"
    return subprocess.run(
        [exe, name, *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=curifactory_env(root),
    )


def copy_workflow(name: str, dest: Path) -> Path:
    shutil.copytree(
        REPO / "workflows" / name,
        dest,
        ignore=shutil.ignore_patterns("data", ".cfcompile", "results", "reports", "__pycache__"),
    )
    return dest


def declarations(experiment_file: Path) -> dict[str, tuple]:
    """What cfcompile's decorators recorded for each stage of an experiment file (scheduler
    requests, timeout, retries, metrics), imported here with curifactory's names aliased to
    cfcompile as its CLI does."""
    import importlib.util

    from cfcompile import compat

    compat.install()  # undone after the test (conftest: curifactory_modules_restored)
    name = f"_declarations_{experiment_file.parent.parent.name}"
    spec = importlib.util.spec_from_file_location(name, experiment_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    found = {}
    for attr, value in vars(module).items():
        s = getattr(value, "spec", None)
        if s is not None and hasattr(s, "resources"):
            found[attr] = (s.resources, s.threads, s.timeout, s.retries, s.metrics)
    return found


@pytest.mark.parametrize("name,args", WORKFLOWS, ids=[w[0] for w in WORKFLOWS])
def test_bundled_workflow_under_curifactory(tmp_path, name, args):
    """As shipped, the workflow fails under `experiment` the way the README says; with the
    README's recipe it runs there, and cfcompile still reads the same keywords from it."""
    keywords = readme_keywords()
    as_shipped = copy_workflow(name, tmp_path / "shipped")
    proc = experiment(as_shipped, name, *args)
    quoted = "AttributeError: 'ArtifactManager' object has no attribute 'engine'"
    said = " ".join(proc.stdout.split() + proc.stderr.split())  # rich wraps long lines
    assert quoted in " ".join(PORTABLE.split()) and quoted in said, said[-3000:]
    assert proc.returncode == 0, "the README says `experiment` still exits 0"

    imports_only = copy_workflow(name, tmp_path / "imports")
    for path in [
        *(imports_only / "experiments").glob("*.py"),
        *(imports_only / "params").glob("*.py"),
    ]:
        path.write_text(curifactory_imports(path.read_text()))
    proc = experiment(imports_only, name, *args)
    refused = re.search(r"unexpected keyword argument '(\w+)'", proc.stderr + proc.stdout)
    assert proc.returncode == 1 and refused, proc.stderr[-3000:]
    assert refused.group(1) in keywords

    recipe = copy_workflow(name, tmp_path / "portable")
    for path in [*(recipe / "experiments").glob("*.py"), *(recipe / "params").glob("*.py")]:
        path.write_text(portable(path.read_text(), keywords))
    proc = experiment(recipe, name, *args)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert cache_files(cache_dir(recipe)), "curifactory wrote no cache"

    shipped = declarations(as_shipped / "experiments" / f"{name}.py")
    import cfcompile

    def undecorated(record): ...

    plain = cfcompile.stage()(undecorated).spec
    defaults = (plain.resources, plain.threads, plain.timeout, plain.retries, plain.metrics)
    assert any(d != defaults for d in shipped.values()), "nothing cfcompile-only to keep"
    assert declarations(recipe / "experiments" / f"{name}.py") == shipped
