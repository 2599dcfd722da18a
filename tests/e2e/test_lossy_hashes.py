"""Hashes that cannot silently collide: a parameter whose repr leaves values out (numpy's
summary, its 8 digits, pandas' display, a timestamp in a __repr__) is refused at compile time
with its path and the fix; hashed by content, each value gets its own cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import pipe, run_cli

from cfcompile import hashing

EXPERIMENT = """
import cfcompile as cf
from cfcompile.caching import JsonCacher

@cf.stage(outputs=["total"], cachers=[JsonCacher])
def use(record):
    return float(record.params.data.weights.sum())

def run(param_sets, manager):
    for p in param_sets:
        use(cf.Record(manager, p))
"""

PARAMS = """
from dataclasses import dataclass, field
import numpy as np
import cfcompile as cf
from cfcompile.hashing import content_digest

@dataclass
class Data:
    weights: object = None
{opt_in}

@dataclass
class P(cf.ExperimentParameters):
    data: Data = field(default_factory=Data)

def get_params():
    a = np.zeros(2000)
    b = a.copy()
    b[1000] = 1.0  # one element differs: numpy's repr of both is the same summary
    return [P(name="a", data=Data(weights=a)), P(name="b", data=Data(weights=b))]
"""


def make(project, opt_in: str = ""):
    return project(
        {
            "experiments/exp.py": EXPERIMENT,
            "params/two.py": PARAMS.format(opt_in=opt_in),
        }
    )


def test_a_summarised_array_is_refused_with_its_path_and_the_fix(project):
    root = make(project)
    proc = run_cli("exp", "-p", "two", cwd=root, check=False)
    assert proc.returncode == 2, proc.stderr
    err = " ".join(proc.stderr.split())
    assert "params/two.py item 0: parameter set 'a': field 'data.weights'" in err
    assert "numpy array of 2,000 values" in err and "share one cache" in err
    assert "hash_by_content = True" in err and "content_digest" in err


def test_hashed_by_content_each_value_gets_its_own_cache(project):
    root = make(project, opt_in="    hash_by_content = True")
    proc = pipe(root, "exp", "-p", "two")
    assert proc.returncode == 0, proc.stderr
    totals = sorted(
        json.loads(p.read_text()) for p in (root / "data" / "cache").glob("exp_*_use_total.json")
    )
    assert totals == [0.0, 1.0]  # two caches, each its own set's result


def test_a_repr_that_changes_between_calls_is_refused(project):
    root = project(
        {
            "experiments/exp.py": EXPERIMENT.replace("record.params.data.weights.sum()", "1"),
            "params/two.py": """
                import time
                from dataclasses import dataclass
                import cfcompile as cf

                class Clock:
                    def __repr__(self):
                        return f"Clock({time.perf_counter_ns()})"

                @dataclass
                class P(cf.ExperimentParameters):
                    clock: object = None

                def get_params():
                    return [P(name="a", clock=Clock())]
            """,
        }
    )
    proc = run_cli("exp", "-p", "two", cwd=root, check=False)
    assert proc.returncode == 2
    assert "not the same twice in a row" in " ".join(proc.stderr.split())


@pytest.mark.parametrize("make_value", [lambda: np.arange(6.0).reshape(2, 3)])
def test_content_digests_tell_values_apart_and_name_their_shape(make_value):
    a = make_value()
    b = a.copy()
    b[1, 2] += 1e-12
    assert hashing.array_digest(None, a) != hashing.array_digest(None, b)
    assert hashing.array_digest(None, a).startswith("ndarray float64 (2, 3) md5:")
    pd = pytest.importorskip("pandas")
    f = pd.DataFrame({"x": a[0], "y": a[1]})
    g = f.copy()
    g.loc[0, "y"] = 99.0
    assert hashing.frame_digest(None, f) != hashing.frame_digest(None, g)
    assert hashing.content_digest(None, [a, {"k": f}]).startswith("list[ndarray")
    assert hashing.frame_digest(None, f) == hashing.frame_digest(None, f.copy())
