"""cfcompile as a drop-in for curifactory 0.20.5: ``curifactory_config.json``,
``curifactory.utils``, ArtifactManager's keywords, ``run_experiment`` and manual scripts.

Differential: the same probe script runs in a plain python where ``import curifactory`` is the
real package, and in one where ``cfcompile.compat`` aliases it to cfcompile; their outputs
(values, cache file names and contents, folders made, exception types and messages) must be
equal. Each probe prints which package it ran, so cfcompile is never compared with itself.
The project is curifactory's own test project
(tests/projects/curifactory_examples/repo-root, see its NOTICE.md).
"""

from __future__ import annotations

import inspect
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import PROJECTS, REPO, pipe, run_cli, snakemake

curifactory = pytest.importorskip("curifactory", reason="curifactory 0.20.5 is the oracle")
import curifactory.experiment as real_experiment  # noqa: E402
import curifactory.manager as real_manager  # noqa: E402
import curifactory.utils as real_utils  # noqa: E402

from cfcompile import experiment, record, utils  # noqa: E402
from cfcompile.errors import CfcompileError  # noqa: E402

pytestmark = pytest.mark.oracle

CURI = PROJECTS / "curifactory_examples" / "repo-root"  # curifactory's test project, verbatim
MANUAL = PROJECTS / "curifactory_examples" / "examples" / "experiments" / "manual.py"
FAIL_STAGE = '''"""A hyphenated experiment whose stage raises for one set (cfcompile's addition)."""

from dataclasses import dataclass

import curifactory as cf
from curifactory.caching import JsonCacher


@dataclass
class Params(cf.ExperimentParameters):
    a: int = 1


@cf.stage(None, ["double"], [JsonCacher])
def double(record):
    if record.params.a == 2:
        raise ValueError("a must not be 2")
    return record.params.a * 2


def get_params():
    return [Params(name="one"), Params(name="two", a=2), Params(name="three", a=3)]


def run(param_sets, manager):
    return [double(cf.Record(manager, p)) for p in param_sets]
'''
CACHE = Path("test/examples/data/cache")

PRELUDE = """
import json, os, sys
if sys.argv[1] == "cfcompile":
    from cfcompile import compat
    compat.install()
import curifactory
OUT = {"package": os.path.dirname(curifactory.__file__)}
"""


def copy_project(dest: Path) -> Path:
    shutil.copytree(CURI, dest, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "test" / "examples" / "experiments" / "fail-stage.py").write_text(FAIL_STAGE)
    return dest


def probe(tool: str, body: str, cwd: Path) -> dict:
    """Run PRELUDE + body under ``tool``; the JSON it prints last (its OUT dict)."""
    script = cwd.parent / f"probe_{tool}.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + "\nprint('OUT ' + json.dumps(OUT))\n")
    # curifactory's own test run has its root on sys.path (`test` is otherwise the stdlib's)
    path = str(REPO) if tool == "cfcompile" else str(cwd)
    proc = subprocess.run(
        [sys.executable, str(script), tool],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("OUT ")]
    assert proc.returncode == 0 and lines, f"{tool} probe failed:\n{proc.stdout}\n{proc.stderr}"
    out = json.loads(lines[-1][4:])
    package = out.pop("package")
    assert ("cfcompile" in package) == (tool == "cfcompile"), package
    return out


def cache_values(cache: Path) -> dict:
    """{file name: JSON value} of a cache's JSON outputs (metadata left out: it has times)."""
    if not cache.is_dir():
        return {}
    return {
        p.name: json.loads(p.read_text())
        for p in sorted(cache.glob("*.json"))
        if not p.name.endswith("_metadata.json")
    }


CONFIG_PROBE = """
import logging
from curifactory import utils
from curifactory.manager import ArtifactManager

root = os.getcwd()
config = {"cache_path": "d/cache", "runs_path": "d/runs", "logs_path": "l",
          "reports_path": "r", "manager_cache_path": ".", "notebooks_path": "n"}
OUT["configs"] = {}
for where in ("", "a", "a/b", "a/b/c", "a/b/c/d"):
    os.makedirs(os.path.join(root, where), exist_ok=True)
    os.chdir(os.path.join(root, where))
    OUT["configs"][where] = utils.get_configuration()
os.chdir(root)
OUT["mem"] = [utils.human_readable_mem_usage(b)
              for b in (0, 999, 1000, 1001, 1500, -2500000, 10**9 + 1, 3 * 10**12)]
OUT["time"] = [utils.human_readable_time(s)
               for s in (0, 1e-8, 5e-5, 0.05, 0.1, 1.5, 60, 61, 3600, 3601, 7300)]
OUT["comment"] = [utils.get_py_opening_comment(lines) for lines in (
    ['\"\"\"One line.\"\"\"\\n', "x = 1\\n"],
    ['\"\"\"Starts here\\n', "and  goes   on\\n", 'to here.\"\"\"\\n'],
    ["'''single quotes'''\\n"], ["import os\\n"])]
OUT["command"] = utils.get_command_output(["echo", "hello"])
OUT["commit"] = utils.get_current_commit()
utils.set_logging_prefix("P:")
utils.set_logging_prefix("Q:")
OUT["prefix"] = logging.getLogRecordFactory()("n", 20, "f", 1, "m", None, None).prefix
OUT["preview"] = [utils.preview_object(v) for v in ([1, 2, 3], "a" * 40, 7)]
OUT["managers"] = {}
for kind, kwargs in (("plain", {}), ("dry", {"dry": True}), ("dry_cache", {"dry_cache": True})):
    os.makedirs(kind)
    os.chdir(kind)
    with open("curifactory_config.json", "w") as f:
        json.dump(config, f)
    m = ArtifactManager("exp", **kwargs)
    attrs = ("experiment_name", "prefix", "cache_path", "runs_path", "logs_path",
             "notebooks_path", "reports_path", "report_css_path", "manager_cache_path", "dry",
             "dry_cache", "store_full", "lazy", "ignore_lazy", "parallel_mode", "status",
             "overwrite", "notes", "records", "reportables", "config")
    OUT["managers"][kind] = {
        "attrs": {a: getattr(m, a) for a in attrs},
        "run_line": m.run_line == " ".join(sys.argv),
        "made": sorted(p for p in ("d/cache", "d/runs", "l", "r", "n") if os.path.isdir(p)),
    }
    os.chdir(root)
"""


def test_configuration_utils_and_manager_folders_match_curifactory(tmp_path):
    runs = {}
    for tool in ("curifactory", "cfcompile"):
        root = tmp_path / tool / "proj"
        (root / "a" / "b" / "c" / "d").mkdir(parents=True)
        (root / "curifactory_config.json").write_text(
            json.dumps({"cache_path": "elsewhere/cache", "params_module_name": "p.q"})
        )
        runs[tool] = probe(tool, CONFIG_PROBE, root)
    ours, theirs = runs["cfcompile"], runs["curifactory"]
    assert ours == theirs
    # what the comparison covers: found from 3 parents up, not from 4; defaults filled in
    assert theirs["configs"]["a/b/c"]["cache_path"] == "../../../elsewhere/cache"
    assert theirs["configs"]["a/b/c/d"]["cache_path"] == "data/cache"
    assert theirs["configs"][""]["experiments_module_name"] == "experiments"
    assert theirs["managers"]["plain"]["made"] == ["d/cache", "d/runs", "l", "r"]
    assert theirs["managers"]["dry"]["made"] == []
    assert theirs["managers"]["dry_cache"]["made"] == ["l", "r"]
    assert theirs["managers"]["plain"]["run_line"] is True


RUN_PROBE = """
import glob, shutil
from curifactory.experiment import run_experiment

CACHE = "test/examples/data/cache"

def cache():
    out = {}
    for path in sorted(glob.glob(CACHE + "/*.json")):
        if not path.endswith("_metadata.json"):
            with open(path) as f:
                out[os.path.basename(path)] = json.load(f)
    shutil.rmtree(CACHE, ignore_errors=True)
    return out

def outputs(results):
    if isinstance(results, list):
        return [r.output for r in results]
    return getattr(results, "output", results)

def scenario(name, *args, **kwargs):
    try:
        results, m = run_experiment(*args, quiet=True, **kwargs)
    except Exception as exc:
        OUT[name] = {"raised": [c.__name__ for c in (ModuleNotFoundError, RuntimeError,
                                                    ValueError) if isinstance(exc, c)]}
        if isinstance(exc, RuntimeError):
            OUT[name]["message"] = str(exc)
        return
    OUT[name] = {"results": outputs(results), "status": m.status, "error": m.error,
                 "sets": {k: [list(v) for v in vs] for k, vs in m.param_file_param_sets.items()},
                 "files": m.parameter_files, "cache": cache()}

scenario("sub", "subexp.example", ["subparams.thing"])
OUT["reported"] = bool(glob.glob("test/examples/reports/subexp.example_*/index.html"))
scenario("names", "subexp.example", ["params1", "subparams.thing"], param_set_names=["subtest"])
scenario("own_params", "simple_cache")
scenario("indices", "simple_cache", param_set_indices=["1-3"])
scenario("dry", "simple_cache", dry=True)
OUT["dry_made_nothing"] = not os.path.exists(CACHE)
scenario("hyphen_failing", "fail-stage")
scenario("no_file", "subexp.example", ["nope"])
scenario("no_name", "subexp.example", ["params1"], param_set_names=["nope"])
shutil.rmtree(CACHE, ignore_errors=True)
results, m = run_experiment("simple_cache", hashes_only=True, quiet=True)
OUT["hashes"] = results
OUT["hashes_made_nothing"] = not os.path.exists(CACHE)
"""


def test_run_experiment_matches_curifactory(tmp_path):
    runs = {
        t: probe(t, RUN_PROBE, copy_project(tmp_path / t / "proj"))
        for t in ("curifactory", "cfcompile")
    }
    ours, theirs = runs["cfcompile"], runs["curifactory"]
    assert ours == theirs
    # what the comparison covers
    assert theirs["sub"]["results"] == [-1, 2, 5] and theirs["reported"]
    assert theirs["names"]["sets"] == {
        "params1": [],
        "subparams.thing": [["subtest", "2c4e7b98f643b37d49cbfd303a88124d"]],
    }
    own = theirs["own_params"]["cache"]
    assert len(own) == 4 and any("agg_store_an_output" in n for n in own)
    assert len(theirs["indices"]["cache"]) == 2  # "1-3" is thing2 and thing3: 3 is excluded
    assert theirs["dry"]["cache"] == {} and theirs["dry_made_nothing"]
    failing = theirs["hyphen_failing"]
    assert failing["status"] == "error" and failing["error"] == "ValueError - a must not be 2"
    assert failing["results"] is None and len(failing["cache"]) == 1
    assert theirs["no_file"] == {"raised": ["ModuleNotFoundError"]}
    assert theirs["no_name"]["raised"] == ["RuntimeError"]
    assert len(theirs["hashes"]) == 4 and theirs["hashes_made_nothing"]


def test_cli_eager_and_compiled_use_the_configured_folders(tmp_path):
    """curifactory's `experiment` CLI, `cfcompile --eager` and `cfcompile | snakemake` on a
    project whose configuration moves every folder: the same cache files and values."""
    theirs_root = copy_project(tmp_path / "theirs")
    exe = shutil.which("experiment", path=os.path.dirname(sys.executable)) or "experiment"
    subprocess.run(
        [exe, "simple_cache", "--no-color", "--plain"],
        cwd=theirs_root,
        env={**os.environ, "PYTHONPATH": str(theirs_root)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    theirs = cache_values(theirs_root / CACHE)
    assert len(theirs) == 4
    eager = copy_project(tmp_path / "eager")
    run_cli("simple_cache", "--eager", cwd=eager / "test" / "examples")  # found from a subfolder
    assert cache_values(eager / CACHE) == theirs
    assert not (eager / "data").exists() and (eager / "test/examples/logs").is_dir()
    compiled = copy_project(tmp_path / "compiled")
    proc = pipe(compiled, "simple_cache", cores="2")
    assert proc.returncode == 0, proc.stderr
    assert cache_values(compiled / CACHE) == theirs
    # an experiment in a subfolder, with parameter files in the folder and in a subfolder
    proc = pipe(compiled, "subexp.example", "-p", "params1", "-p", "subparams.thing", cores="2")
    assert proc.returncode == 0, proc.stderr
    versions = compiled / ".cfcompile" / "subexp.example" / "v"
    info = json.loads(next(versions.glob("*/workflow.json")).read_text())
    values = sorted(
        pickle.loads(p.read_bytes())
        for p in (compiled / CACHE).glob("subexp.example_*_get_data_data.pkl")
    )
    assert values == [[-1, 2, 5], [0, 1, 2]]
    assert str(compiled / "test/examples/params/subparams/thing.py") in info["digests"]
    listing = run_cli("ls", cwd=compiled).stdout
    for name in ("subexp.example", "simple_cache", "fail-stage", "params1", "subparams.thing"):
        assert any(ln.split()[:2] == [name, "ok"] for ln in listing.splitlines()), listing


def test_edited_parameter_file_in_a_configured_subfolder_asks_for_recompile(tmp_path):
    root = copy_project(tmp_path / "proj")
    snakefile = run_cli("subexp.example", "-p", "subparams.thing", cwd=root).stdout
    thing = root / "test/examples/params/subparams/thing.py"
    thing.write_text(thing.read_text().replace("[-1, 2, 5]", "[-1, 2, 6]"))
    proc = snakemake("-s", "/dev/stdin", "--cores", "1", cwd=root, stdin=snakefile, check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (root / ".cfcompile").rglob("*.log"))
    assert "recompile" in logs and "now hashes to" in logs, logs
    assert not list((root / CACHE).glob("*get_data*"))


def test_manual_script_runs_as_under_curifactory(tmp_path):
    """curifactory's examples/experiments/manual.py: `python manual.py` with curifactory,
    `python -m cfcompile.experiment manual.py` with cfcompile."""
    made = {}
    for tool, cmd, path in (
        ("curifactory", ["manual.py"], ""),
        ("cfcompile", ["-m", "cfcompile.experiment", "manual.py"], str(REPO)),
    ):
        folder = tmp_path / tool
        folder.mkdir()
        shutil.copy(MANUAL, folder)
        proc = subprocess.run(
            [sys.executable, *cmd],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": path},
        )
        assert proc.returncode == 0, proc.stderr
        cache = folder / "data" / "cache"
        made[tool] = {
            "cache": {p.name: pickle.loads(p.read_bytes()) for p in sorted(cache.glob("*.pkl"))},
            "logged": (folder / "logs" / "this.log").read_text().count("THIS IS A LOG MESSAGE"),
            "report": len(list((folder / "reports").glob("experiment_one_*/index.html"))),
        }
    assert made["cfcompile"] == made["curifactory"]
    assert len(made["curifactory"]["cache"]) == 6 and made["curifactory"]["logged"] == 3


def test_bad_configuration_is_named_with_the_fix(tmp_path):
    root = copy_project(tmp_path / "proj")
    config = root / "curifactory_config.json"
    for text, expected in (
        ('{"cache_path": "x",}', "is not valid JSON"),
        ('["experiments"]', "not an object"),
        ('{"experiments_module_name": "test/examples/experiments"}', "'test.examples.experiments'"),
        ('{"cache_path": 3}', "must be a string"),
        ('{"experiments_module_name": "missing"}', "names as its experiments"),
    ):
        config.write_text(text)
        proc = run_cli("simple_cache", "--eager", cwd=root, check=False)
        assert proc.returncode == 2, proc.stderr
        assert str(config) in proc.stderr and expected in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_signatures_mirror_curifactory(tmp_path, monkeypatch):
    """Every keyword of curifactory 0.20.5's ArtifactManager and run_experiment, in order, with
    its default; cfcompile's own keywords come after them, keyword-only."""

    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    theirs = params(real_manager.ArtifactManager.__init__)
    ours = params(record.ArtifactManager.__init__)
    assert ours[: len(theirs)] == theirs
    extra = list(inspect.signature(record.ArtifactManager.__init__).parameters.values())
    assert all(p.kind is p.KEYWORD_ONLY for p in extra[len(theirs) :])
    assert params(experiment.run_experiment) == params(real_experiment.run_experiment)
    for name in (
        "get_configuration",
        "get_editor",
        "human_readable_mem_usage",
        "human_readable_time",
        "get_command_output",
        "run_command",
        "get_current_commit",
        "check_git_dirty_workingdir",
        "get_pip_freeze",
        "get_conda_env",
        "get_os",
        "get_py_opening_comment",
        "set_logging_prefix",
        "preview_object",
    ):
        assert params(getattr(utils, name)) == params(getattr(real_utils, name)), name
    monkeypatch.chdir(tmp_path)  # no configuration file here or up to three parents
    assert utils.get_configuration() == real_utils.get_configuration() == utils.DEFAULTS


def test_what_cfcompile_does_not_carry_over_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, hint in (("map_only", "--dag"), ("paths_only", "--dry-run")):
        with pytest.raises(CfcompileError, match=f"{key}.*{hint}"):
            experiment.run_experiment("x", **{key: True})
    assert not list(tmp_path.iterdir())  # refused before anything was made
