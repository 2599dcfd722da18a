"""Every bad input named in the issue: a clear message naming the culprit, and no cache file."""

from __future__ import annotations

import pytest
from helpers import CHAIN, run_cli

PARAMS = CHAIN["params/__init__.py"]
FEW = CHAIN["params/few.py"]


def fails(root, *args, env=None):
    proc = run_cli(*args, cwd=root, check=False, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def no_cache_files(root):
    cache = root / "data" / "cache"
    return [] if not cache.exists() else sorted(p.name for p in cache.rglob("*") if p.is_file())


def test_missing_experiment_lists_available(project):
    root = project(CHAIN)
    err = fails(root, "nope", "-p", "few", "--eager")
    assert "no experiment module 'nope'" in err and "available in experiments/: chain" in err


def test_missing_params_lists_available(project):
    root = project(CHAIN)
    err = fails(root, "chain", "-p", "nope", "--eager")
    assert "no parameter module 'nope'" in err and "few" in err and "more" in err


def test_experiment_without_run(project):
    root = project({**CHAIN, "experiments/empty.py": "x = 1\n"})
    err = fails(root, "empty", "-p", "few", "--eager")
    assert "empty.py has no run(param_sets, manager)" in err


def test_params_module_without_get_params(project):
    root = project({**CHAIN, "params/empty.py": "x = 1\n"})
    err = fails(root, "chain", "-p", "empty", "--eager")
    assert "params/empty.py has no get_params()" in err


def test_experiment_without_own_params_and_no_p(project):
    root = project(CHAIN)
    err = fails(root, "chain", "--eager")
    assert "has no get_params() of its own: pass -p NAME" in err


@pytest.mark.parametrize(
    "body,expected",
    [
        ("return Params(name='one')", "returned Params, not a list"),
        ("return [Params(name='ok'), {'name': 'bad'}]", "item 1 is a dict"),
        ("return None", "returned NoneType"),
    ],
)
def test_get_params_returning_the_wrong_thing(project, body, expected):
    src = f"from params import Params\n\ndef get_params():\n    {body}\n"
    root = project({**CHAIN, "params/bad.py": src})
    err = fails(root, "chain", "-p", "bad", "--eager")
    assert "params/bad.py" in err and expected in err


STAGE_PROJECT = {
    "params/__init__.py": PARAMS,
    "params/few.py": FEW,
}


def _experiment(body: str) -> dict:
    head = "import cfcompile as cf\nfrom cfcompile.caching import JsonCacher, PickleCacher\n\n"
    return {**STAGE_PROJECT, "experiments/bad.py": head + body}


def test_wrong_number_of_outputs(project):
    root = project(
        _experiment(
            "@cf.stage(outputs=['a', 'b'], cachers=[JsonCacher, JsonCacher])\n"
            "def two(record):\n    return 1\n\n"
            "def run(param_sets, manager):\n"
            "    for p in param_sets:\n        two(cf.Record(manager, p))\n"
        )
    )
    err = fails(root, "bad", "-p", "few", "--eager")
    assert "stage 'two'" in err and "parameter set 's0'" in err
    assert "declares 2 output(s) ['a', 'b'] but returned 1" in err
    assert no_cache_files(root) == []


def test_missing_input(project):
    root = project(
        _experiment(
            "@cf.stage(inputs=['model'], outputs=['s'])\n"
            "def score(record, model):\n    return 1\n\n"
            "def run(param_sets, manager):\n"
            "    for p in param_sets:\n        score(cf.Record(manager, p))\n"
        )
    )
    err = fails(root, "bad", "-p", "few", "--eager")
    assert "stage 'score'" in err and "input 'model' is not in the record's state" in err
    assert "parameter set 's0'" in err


def test_input_not_in_signature(project):
    root = project(
        _experiment(
            "@cf.stage(inputs=['model'], outputs=['s'])\n"
            "def score(record, modle):\n    return 1\n\n"
            "def run(param_sets, manager):\n"  # raised at the call, as in curifactory
            "    score(cf.Record(manager, param_sets[0]), model=1)\n"
        )
    )
    err = fails(root, "bad", "-p", "few", "--eager")
    assert "stage 'score'" in err and "bad.py:4" in err
    assert "input(s) ['model'] are not parameters of the function" in err


def test_mismatched_cachers(project):
    root = project(
        _experiment(
            "@cf.stage(outputs=['a', 'b'], cachers=[JsonCacher])\n"
            "def two(record):\n    return 1, 2\n\n"
            "def run(param_sets, manager):\n"  # raised at the call, as in curifactory
            "    two(cf.Record(manager, param_sets[0]))\n"
        )
    )
    err = fails(root, "bad", "-p", "few", "--eager")
    assert "stage 'two'" in err and "1 cacher(s) for 2 output(s)" in err


def test_duplicate_hash_different_names_warns(project):
    src = (
        "from params import Params\n\n"
        "def get_params():\n    return [Params(name='first', x=1), Params(name='second', x=1)]\n"
    )
    root = project(
        {
            **_experiment("def run(param_sets, manager):\n    pass\n"),
            "params/dupe.py": src,
        }
    )
    proc = run_cli("bad", "-p", "dupe", "--eager", cwd=root)
    assert "'first' and 'second' have the same hash" in proc.stderr
    assert "share cache files" in proc.stderr


def test_raising_stage_leaves_no_cache_file(project):
    root = project(
        _experiment(
            "@cf.stage(outputs=['a'], cachers=[JsonCacher])\n"
            "def ok(record):\n    return 1\n\n"
            "@cf.stage(inputs=['a'], outputs=['b', 'c'], cachers=[JsonCacher, PickleCacher])\n"
            "def boom(record, a):\n"
            "    if record.params.x == 1:\n        raise RuntimeError('kaboom')\n"
            "    return 1, 2\n\n"
            "def run(param_sets, manager):\n"
            "    for p in param_sets:\n        boom(ok(cf.Record(manager, p)))\n"
        )
    )
    proc = run_cli("bad", "-p", "few", "--eager", cwd=root, check=False)
    assert proc.returncode != 0 and "kaboom" in proc.stderr
    files = no_cache_files(root)
    assert any("_ok_a.json" in f for f in files)
    boom_files = [f for f in files if "_boom_" in f]
    # s0 finished before s1 raised; s1 left nothing; no staging leftovers anywhere
    assert len(boom_files) == 4 and all(f.startswith("bad_") for f in boom_files)
    assert not [p for p in (root / "data" / "cache").iterdir() if p.name.startswith(".")]


def test_failing_save_publishes_no_output_of_that_stage(project):
    """The second output cannot be pickled: the first output must not be published either."""
    root = project(
        _experiment(
            "@cf.stage(outputs=['a', 'b'], cachers=[JsonCacher, PickleCacher])\n"
            "def two(record):\n    return 1, (lambda: 0)\n\n"
            "def run(param_sets, manager):\n"
            "    two(cf.Record(manager, param_sets[0]))\n"
        )
    )
    proc = run_cli("bad", "-p", "few", "--eager", cwd=root, check=False)
    assert proc.returncode != 0
    assert no_cache_files(root) == []
