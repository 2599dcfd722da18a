"""Safe compiled runs: parameter names, hashes and values, and where experiment files are found.

Each test drives the real CLI on a real project (eager, or compiled and run by Snakemake) the way
a researcher would meet the fault: a name or hash that escapes the cache folder, two sets with one
name, a value whose hash changes between processes, a raising get_params(), experiment files
with hyphens or in subfolders.
"""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import CHAIN, compiled_info, run_cli

import cfcompile as cf
from cfcompile.project import representations

PARAMS = CHAIN["params/__init__.py"]

REPORTING = """
    import cfcompile as cf
    from cfcompile.caching import JsonCacher
    from cfcompile.reporting import JsonReporter


    @cf.stage(outputs=["a"], cachers=[JsonCacher])
    def first(record):
        record.report(JsonReporter({"x": record.params.x}))
        return record.params.x


    def run(param_sets, manager):
        for p in param_sets:
            first(cf.Record(manager, p))
"""


@dataclass
class Lambdas(cf.ExperimentParameters):
    """Hash functions written as lambdas, as curifactory's documentation shows them."""

    a: object = None
    hash_representations: dict = cf.set_hash_functions(a=lambda self, obj: str(sorted(obj)))


BASE = {"params/__init__.py": PARAMS, "experiments/rep.py": REPORTING}


def get_params(*sets: str, head: str = "from params import Params\n") -> str:
    """A parameter file whose get_params() returns the given constructor expressions."""
    return f"{head}\n\ndef get_params():\n    return [{', '.join(sets)}]\n"


def fails(root: Path, *args: str) -> str:
    """The CLI refuses with one message (status 2, no traceback); returns stderr."""
    proc = run_cli(*args, cwd=root, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def compile_and_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``cfcompile ARGS | snakemake -s /dev/stdin --cores 1`` in the project folder."""
    snakefile = run_cli(*args, cwd=root).stdout
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", "/dev/stdin", "--cores", "1"],
        cwd=root,
        input=snakefile,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def run_mode(root: Path, mode: str, *args: str) -> None:
    if mode == "eager":
        run_cli(*args, "--eager", cwd=root)
    else:
        compile_and_run(root, *args)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# -- 1. path traversal through names and hashes -----------------------------------------------
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_parameter_set_name_cannot_move_reportables_out_of_the_cache(project, tmp_path, mode):
    root = project({**BASE, "params/esc.py": get_params("Params(name='../../../../ESCAPED', x=1)")})
    run_mode(root, mode, "rep", "-p", "esc")
    cache = root / "data" / "cache"
    escaped = [p for p in tmp_path.rglob("*ESCAPED*") if p.is_file()]
    assert escaped, "the reportable was not written at all"
    outside = [p for p in escaped if cache not in p.parents]
    assert not outside, outside
    (listing,) = cache.glob("rep_*_first_reportables_file_list.json")
    (listed,) = json.loads(listing.read_text())
    pkl = root / listed  # relative to the run's working directory, as curifactory lists it
    assert pkl.parent.parent == cache and pkl.is_file()
    assert not pkl.name.startswith(".")


def test_parameter_set_name_with_a_slash_runs_and_reloads_its_reportable(project):
    root = project({**BASE, "params/slash.py": get_params("Params(name='a/b', x=2)")})
    run_cli("rep", "-p", "slash", "--eager", cwd=root)
    (pkl,) = (root / "data" / "cache").glob("rep_*_first_reportables/*.pkl")
    assert pkl.name == "a_b_first_0.pkl"
    again = run_cli("rep", "-p", "slash", "--eager", cwd=root)  # cached: reportable reloaded
    assert "0 stage(s) ran, 1 cached" in again.stderr


def test_ordinary_names_keep_curifactory_file_names(project):
    root = project({**BASE, "params/ok.py": get_params("Params(name='run 1.5-x', x=3)")})
    run_cli("rep", "-p", "ok", "--eager", cwd=root)
    (pkl,) = (root / "data" / "cache").glob("rep_*_first_reportables/*.pkl")
    assert pkl.name == "run 1.5-x_first_0.pkl"


@pytest.mark.parametrize("bad", ["/../../X", "../X", "1f/2", "", "a..b", "two words"])
def test_preset_hash_must_stay_a_file_name_in_the_cache_folder(project, tmp_path, bad):
    """Any string that names a file inside the cache folder, as curifactory takes any string;
    a compiled job also carries it on its command line (no spaces or shell characters)."""
    root = project({**BASE, "params/hsh.py": get_params(f"Params(name='h', x=3, hash={bad!r})")})
    err = fails(root, "rep", "-p", "hsh")
    assert "'h'" in err and "params/hsh.py" in err and "preset hash" in err
    assert not files_under(root / "data") and not list(tmp_path.rglob("X_*"))


def test_preset_hash_need_not_be_hex(project):
    root = project({**BASE, "params/hsh.py": get_params("Params(name='h', x=3, hash='My-Set')")})
    run_cli("rep", "-p", "hsh", "--eager", cwd=root)
    assert (root / "data" / "cache" / "rep_My-Set_first_a.json").is_file()


def test_preset_hex_hash_names_the_cache_files(project):
    root = project({**BASE, "params/hsh.py": get_params("Params(name='h', x=3, hash='1f')")})
    run_cli("rep", "-p", "hsh", "--eager", cwd=root)
    assert (root / "data" / "cache" / "rep_1f_first_a.json").is_file()


def test_hash_set_inside_run_is_checked_too(project):
    run_body = REPORTING.replace(
        "first(cf.Record(manager, p))", "p.hash = '../up'\n            first(cf.Record(manager, p))"
    )
    root = project({**BASE, "experiments/rep.py": run_body, "params/ok.py": get_params("Params()")})
    err = fails(root, "rep", "-p", "ok")
    assert "'UNNAMED'" in err and "'../up'" in err and "preset hash" in err


def test_prefix_cannot_leave_the_cache_folder(project, tmp_path):
    root = project({**BASE, "params/ok.py": get_params("Params(name='ok')")})
    err = fails(root, "rep", "-p", "ok", "--prefix", "../../out")
    assert "outside the cache folder" in err and "stage 'first'" in err
    assert not files_under(root / "data") and not list(tmp_path.rglob("out_*"))


# -- 2. parameter sets with the same name --------------------------------------------------------
def test_same_name_with_different_values_is_refused(project):
    root = project(
        {
            **BASE,
            "params/one.py": get_params("Params(name='base', x=1)", "Params(name='dup', x=1)"),
            "params/two.py": get_params("Params(name='other', x=3)", "Params(name='dup', x=2)"),
        }
    )
    err = fails(root, "rep", "-p", "one", "-p", "two")
    assert "'dup'" in err and "params/one.py item 1" in err and "params/two.py item 1" in err
    assert "rename" in err


def test_same_name_within_one_file_is_refused(project):
    sets = get_params("Params(name='a', x=1)", "Params(name='a', x=2)")
    root = project({**BASE, "params/one.py": sets})
    err = fails(root, "rep", "-p", "one", "--eager")
    assert "params/one.py item 0" in err and "params/one.py item 1" in err


def test_identical_duplicates_are_refused_too(project):
    root = project({**BASE, "params/one.py": get_params("Params(name='a', x=1)")})
    err = fails(root, "rep", "-p", "one", "-p", "one")
    assert "'a'" in err and "-p one is given twice" in err


# -- 3. values whose hash differs between processes ----------------------------------------------
UNSTABLE_HEAD = """
from dataclasses import dataclass, field

import cfcompile as cf


class Model:
    def __init__(self, depth=2):
        self.depth = depth


@dataclass
class Params(cf.ExperimentParameters):
    model: object = None
    tags: object = None
"""


@pytest.mark.parametrize(
    "value,expected",
    [
        ("Model()", "memory address"),
        ("[1, Model()]", "memory address"),
        ("{'a', 'b'}", "PYTHONHASHSEED"),
        ("frozenset({('a', 1), ('b', 2)})", "PYTHONHASHSEED"),
        ("{'k': {'a', 'b'}}", "PYTHONHASHSEED"),
    ],
)
def test_unstable_representation_is_refused_with_the_fix(project, value, expected):
    src = get_params(f"Params(name='u', tags={value})", head=UNSTABLE_HEAD)
    root = project({**BASE, "params/u.py": src})
    err = fails(root, "rep", "-p", "u")
    assert "'u'" in err and "params/u.py" in err and "field 'tags'" in err and expected in err
    assert "hash_representations" in err and "cf.set_hash_functions(tags=" in err


def test_stable_sets_are_accepted():
    for ok in ({1, 2, 3}, frozenset({(1, 2.5), (3, None)}), {"only"}, ["b", "a"], None):
        assert representations.unstable_fields(Lambdas(a=ok, hash_representations={})) == [], ok


def test_hash_representations_make_an_object_usable_and_the_set_ships_to_jobs(project, tmp_path):
    head = UNSTABLE_HEAD.replace(
        "    tags: object = None\n",
        "    tags: object = None\n"
        "    hash_representations: dict = cf.set_hash_functions(\n"
        "        model=lambda self, obj: f'Model({obj.depth})',\n"
        "        tags=lambda self, obj: sorted(obj),\n"
        "    )\n",
    )
    experiment = REPORTING.replace("record.params.x", "record.params.model.depth")
    src = get_params("Params(name='m', model=Model(3), tags={'a', 'b', 'c'})", head=head)
    root = project({**BASE, "experiments/rep.py": experiment, "params/m.py": src})
    compile_and_run(root, "rep", "-p", "m")
    (out,) = (root / "data" / "cache").glob("rep_*_first_a.json")
    assert json.loads(out.read_text()) == 3
    meta = json.loads(
        next((root / "data" / "cache").glob("rep_*_first_a_metadata.json")).read_text()
    )
    assert meta["params"]["model"] == "Model(3)"
    hashes = set()
    for seed in ("1", "2"):  # a new process, a new hash seed: the same hash
        run_cli("rep", "-p", "m", cwd=root, env={"PYTHONHASHSEED": seed})
        info = compiled_info(root, "rep")
        hashes.add(info["param_sets"][0][1])
    assert len(hashes) == 1 and out.name == f"rep_{hashes.pop()}_first_a.json"


def test_unpicklable_field_is_named(project):
    head = UNSTABLE_HEAD.replace("    model: object = None\n", "    fn: object = None\n")
    src = get_params("Params(name='f', fn=lambda v: v + 1)", head=head)
    root = project({**BASE, "params/f.py": src})
    err = fails(root, "rep", "-p", "f")
    assert "'f'" in err and "params/f.py" in err and "field 'fn'" in err and "pickle" in err
    assert "module level" in err


def test_class_defined_inside_get_params_is_named(project):
    src = (
        "from dataclasses import dataclass\n\nfrom params import Params\n\n\n"
        "def get_params():\n"
        "    @dataclass\n"
        "    class Local(Params):\n"
        "        y: int = 1\n\n"
        "    return [Local(name='loc')]\n"
    )
    root = project({**BASE, "params/loc.py": src})
    err = fails(root, "rep", "-p", "loc")
    assert "'loc'" in err and "Local" in err and "module level" in err


def test_lambda_value_warns_that_lambdas_share_a_hash(project, caplog):
    from cfcompile.project.discover import Project

    head = UNSTABLE_HEAD.replace("    model: object = None\n", "    fn: object = None\n")
    src = get_params("Params(name='f', fn=lambda v: v + 1)", head=head)
    root = project({**BASE, "params/f.py": src})
    with caplog.at_level(logging.WARNING, logger="cfcompile"):
        sets = Project(root).param_sets("rep", ["f"], for_jobs=False)
    assert [p.name for p in sets] == ["f"]
    assert "'f'" in caplog.text and "field 'fn'" in caplog.text and "<lambda>" in caplog.text


def test_hash_function_that_raises_is_named(project):
    head = UNSTABLE_HEAD + "    hash_representations: dict = cf.set_hash_functions(\n"
    head += "        model=lambda self, obj: obj.missing\n    )\n"
    src = get_params("Params(name='r', model=Model())", head=head)
    root = project({**BASE, "params/r.py": src})
    err = fails(root, "rep", "-p", "r")
    assert "'r'" in err and "params/r.py" in err and "field 'model'" in err
    assert "AttributeError" in err


def test_param_sets_pickle_without_their_hash_functions_and_get_them_back():
    p = Lambdas(name="x", a={"b", "a"})
    back = pickle.loads(pickle.dumps(p))
    assert back.hash_representations["a"](back, back.a) == "['a', 'b']"
    assert back.params_hash() == p.params_hash()


# -- 4. clear errors; experiment files curifactory finds ----------------------------------------
def test_get_params_raising_names_the_file_and_the_exception(project):
    src = "from params import Params\n\n\ndef get_params():\n    raise ValueError('no data file')\n"
    root = project({**BASE, "params/boom.py": src})
    err = fails(root, "rep", "-p", "boom")
    assert "params/boom.py" in err and "get_params() raised ValueError: no data file" in err
    assert "boom.py:5" in err


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("name", ["subexp.example", "reload-reportables", "deep.er.v1-2"])
def test_experiments_with_hyphens_and_in_subfolders_run(project, mode, name):
    rel = "experiments/" + "/".join(name.split(".")) + ".py"
    root = project({**BASE, rel: REPORTING, "params/ok.py": get_params("Params(name='ok', x=4)")})
    run_mode(root, mode, name, "-p", "ok")
    (out,) = (root / "data" / "cache").glob(f"{name}_*_first_a.json")
    assert json.loads(out.read_text()) == 4


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_experiment_file_with_a_dot_in_its_name(project, mode):
    root = project(
        {**BASE, "experiments/rep.v2.py": REPORTING, "params/ok.py": get_params("Params(x=6)")}
    )
    run_mode(root, mode, "rep.v2", "-p", "ok")
    (out,) = (root / "data" / "cache").glob("rep.v2_*_first_a.json")
    assert json.loads(out.read_text()) == 6


def test_parameter_files_with_hyphens_and_in_subfolders(project):
    root = project(
        {
            **BASE,
            "params/my-sets.py": get_params("Params(name='h', x=7)"),
            "params/grid/small.py": get_params("Params(name='s', x=8)"),
        }
    )
    run_cli("rep", "-p", "my-sets", "-p", "grid.small", "--eager", cwd=root)
    values = sorted(
        json.loads(p.read_text()) for p in (root / "data" / "cache").glob("rep_*_first_a.json")
    )
    assert values == [7, 8]
    listing = run_cli("ls", cwd=root).stdout
    assert "my-sets" in listing and "grid.small" in listing


def test_experiment_name_with_a_slash_says_to_use_dots(project):
    root = project({**BASE, "experiments/sub/example.py": REPORTING})
    err = fails(root, "sub/example", "-p", "ok")
    assert "sub.example" in err
