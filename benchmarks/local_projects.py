"""The projects local_bench.py runs, each written fresh into a temporary folder.

Both tools run the very same files: curifactory 0.20.5 as they are, cfcompile through its
``curifactory`` alias. Kept apart from the runner so that adding a workload is adding a
project here and one line in local_bench's table of workloads.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import compile_bench  # the shared project writer and trivial chain experiment
import cpu_bench  # the calibrated CPU-burning experiment

from cfcompile.utils import DEFAULTS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
IRIS_COMPAT = HERE / "projects" / "iris_compat"
CURIFACTORY_EXAMPLES = REPO / "tests" / "projects" / "curifactory_examples" / "examples"

# curifactory's defaults (cfcompile.utils.DEFAULTS mirrors 0.20.5's, checked against it by
# tests/test_curifactory_config.py), written explicitly so that a curifactory_config.json
# further up the temporary directory's parents (it searches three levels) can never redirect
# the caches.
CURIFACTORY_CONFIG = dict(DEFAULTS)

DIGITS_PARAMS = """
import os
from dataclasses import dataclass

from params import Params

GRID = [(c, g) for c in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0) for g in (0.0003, 0.001, 0.003, 0.01)]


@dataclass
class Digits(Params):
    C: float = 1.0
    gamma: float = 0.001
    seed: int = 0


def get_params():
    sets = []
    for i in range(int(os.environ["BENCH_N"])):
        (c, g), seed = GRID[i % len(GRID)], i // len(GRID)
        sets.append(Digits(name=f"C{c}_g{g}_s{seed}", x=i, C=c, gamma=g, seed=seed))
    return sets
"""

# Formatted by compile_bench.make_project with lib=...: no other braces allowed in here.
DIGITS_EXPERIMENT = """
import {lib} as cf
from {lib}.caching import JsonCacher, PickleCacher
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

@cf.stage(outputs=["train_data", "test_data"], cachers=[PickleCacher, PickleCacher])
def split(record):
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.25, random_state=record.params.seed, stratify=y
    )
    return (x_tr, y_tr), (x_te, y_te)

@cf.stage(inputs=["train_data"], outputs=["model"], cachers=[PickleCacher])
def train(record, train_data):
    model = SVC(C=record.params.C, gamma=record.params.gamma)
    model.fit(*train_data)
    return model

@cf.stage(inputs=["test_data", "model"], outputs=["accuracy"], cachers=[JsonCacher])
def evaluate(record, test_data, model):
    x, y = test_data
    return float(accuracy_score(y, model.predict(x)))

@cf.aggregate(inputs=["accuracy"], outputs=["ranking"], cachers=[JsonCacher])
def compare(record, records, accuracy):
    ranked = sorted(((r.params.name, a) for r, a in accuracy.items()), key=lambda t: -t[1])
    return [list(t) for t in ranked]

def run(param_sets, manager):
    for p in param_sets:
        evaluate(train(split(cf.Record(manager, p))))
    compare(cf.Record(manager, None))
"""


# Two CPU-bound stages per set with a pickled hand-off between them, and an aggregate: the
# shape of a real sweep (prepare features, fit on them, compare), as the 1-stage cpu_bench
# is not. Formatted by compile_bench.make_project with lib=...: no other braces in here.
CPU2_EXPERIMENT = """
import os
import {lib} as cf
from {lib}.caching import JsonCacher, PickleCacher

PREP_LOOPS = int(os.environ["BENCH_PREP_LOOPS"])
FIT_LOOPS = int(os.environ["BENCH_LOOPS"])


def burn(loops, acc):
    for i in range(loops):
        acc = (acc * 31 + i) % 1000003
    return acc


@cf.stage(outputs=["features"], cachers=[PickleCacher])
def prepare(record):
    acc = burn(PREP_LOOPS, record.params.x)
    return [float((acc + i) % 997) for i in range(20000)]


@cf.stage(inputs=["features"], outputs=["score"], cachers=[JsonCacher])
def fit(record, features):
    return burn(FIT_LOOPS, int(sum(features)) % 1000003) % 97


@cf.aggregate(inputs=["score"], outputs=["best"], cachers=[JsonCacher])
def best(record, records, score):
    return max(score.values())


def run(param_sets, manager):
    for p in param_sets:
        fit(prepare(cf.Record(manager, p)))
    best(cf.Record(manager, None))
"""


def add_config(root: Path) -> Path:
    (root / "curifactory_config.json").write_text(json.dumps(CURIFACTORY_CONFIG, indent=2))
    return root


def iris_project(root: Path) -> Path:
    shutil.copytree(IRIS_COMPAT, root, ignore=shutil.ignore_patterns("__pycache__", "data"))
    return root


def example_project(root: Path) -> Path:
    """curifactory's own examples folder, unmodified (its iris.py has its own get_params)."""
    ignore = shutil.ignore_patterns("__pycache__", "data", "logs", "reports")
    shutil.copytree(CURIFACTORY_EXAMPLES, root, ignore=ignore)
    return add_config(root)


def chain_project(root: Path) -> Path:
    return add_config(compile_bench.make_project(root, "curifactory"))


def digits_project(root: Path) -> Path:
    compile_bench.make_project(root, "curifactory", name="digits", experiment=DIGITS_EXPERIMENT)
    (root / "params" / "digits.py").write_text(DIGITS_PARAMS.lstrip())
    return add_config(root)


def cpu_project(root: Path) -> Path:
    return add_config(cpu_bench.make_project(root, "curifactory"))


def cpu2_project(root: Path) -> Path:
    project = compile_bench.make_project(
        root, "curifactory", name="cpu2", experiment=CPU2_EXPERIMENT
    )
    return add_config(project)


def readme_pipe() -> str:
    """The README's first command from ``cfcompile`` on: the pipe a researcher copies.

    Read from the README itself, so that the benchmark measures what the README tells people
    to type, flags included, and follows it when it changes.
    """
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)\n```", text, flags=re.S)
    line = block.group(1) if block else ""
    found = re.search(r"(cfcompile iris -p base \|[^&;]*)$", line.strip())
    if not found:
        raise SystemExit("README.md's first command has no `cfcompile iris -p base | ...` pipe")
    return found.group(1).strip()


def pipe_for(experiment: str, params: str | None) -> str:
    """The README's pipe for another experiment (``params`` None: the experiment's own sets)."""
    selection = f"{experiment} -p {params}" if params else experiment
    return readme_pipe().replace("cfcompile iris -p base", f"cfcompile {selection}", 1)
