"""One experiment, one result: every route gives each node what a fresh process gives.

The experiment (tests/projects/routes) returns, per node, what its process showed it:
module-level generators seeded and unseeded (random, numpy), the environment and a data file
read at import, a helper module outside the project (on PYTHONPATH), and which ``random`` it
imported (the project root holds a ``random.py``). Each route runs on a fresh copy:

- the README's pipe (the compile forks the warm worker) and ``CFCOMPILE_WORKER=0`` (every node
  a fresh ``python -m cfcompile.job``): compiled with ``ROUTES_FOO=a`` and the helper and data
  file at v1, then both edited and the workflow run with ``ROUTES_FOO=b``;
- ``--submit local`` and ``--eager``, run with the edited files and ``ROUTES_FOO=b``;
- the Slurm test cluster (tests/slurm/test_slurm.py runs the same check there).

Equal where a fresh process is deterministic, different where it is not. ``--eager`` is one
process, as curifactory's ``experiment``: its stage calls share module-level state, so a
module-level seeded generator gives the draws in run() order there (docs/running.md).
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from helpers import (
    SETS,
    SNAKEMAKE,
    check_fresh,
    edit,
    seen,
)
from helpers import (
    route_cfcompile as cfcompile,
)
from helpers import (
    route_setup as setup,
)


def compiled_route(tmp_path: Path, name: str, worker: bool) -> dict:
    root, env, ext = setup(tmp_path, name)
    if not worker:
        env["CFCOMPILE_WORKER"] = "0"
    cfcompile("routes", "-p", "four", "-o", str(root / "Snakefile"), cwd=root, env=env)
    edit(ext)
    proc = subprocess.run(
        [*SNAKEMAKE, "-s", str(root / "Snakefile"), "--cores", "2"],
        cwd=root,
        env={**env, "ROUTES_FOO": "b"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return seen(root)


def test_the_readme_pipe_with_the_warm_worker(tmp_path):
    check_fresh(compiled_route(tmp_path, "worker", worker=True), "worker")


def test_a_fresh_process_per_node(tmp_path):
    check_fresh(compiled_route(tmp_path, "fresh", worker=False), "CFCOMPILE_WORKER=0")


def test_submitit_local_arrays(tmp_path):
    root, env, ext = setup(tmp_path, "local")
    edit(ext)
    cfcompile("routes", "-p", "four", "--submit", "local", cwd=root, env={**env, "ROUTES_FOO": "b"})
    check_fresh(seen(root), "--submit local")


def test_eager_is_one_process_as_curifactorys_experiment(tmp_path):
    root, env, ext = setup(tmp_path, "eager")
    edit(ext)
    cfcompile("routes", "-p", "four", "--eager", cwd=root, env={**env, "ROUTES_FOO": "b"})
    values = seen(root)
    probes = [values[("probe", s)] for s in SETS]
    for i, v in enumerate(probes):  # everything a fresh process decides is the same ...
        assert v["from_params"] == random.Random(i).random()
        assert (v["foo"], v["helper"], v["data"]) == ("b", "v2", "edited")
        assert not v["shadowed"]
    # ... but module-level state is the one process's: draws in run() order
    draws = random.Random(42)
    order = [d for _ in SETS for d in (draws.random(), draws.random())]
    got = [
        x for s in SETS for x in (values[("probe", s)]["seeded"], values[("after", s)]["seeded"])
    ]
    assert got == order
    assert len({v["unseeded"] for v in probes}) == len(SETS)


@pytest.mark.parametrize("batch", ["3"])
def test_grouping_changes_nothing_a_node_sees(tmp_path, batch):
    """Three sets' chains in one job (one process): each node still sees a fresh module."""
    root, env, ext = setup(tmp_path, "batch")
    env["CFCOMPILE_WORKER"] = "0"
    cfcompile(
        "routes", "-p", "four", "--batch", batch, "-o", str(root / "Snakefile"), cwd=root, env=env
    )
    edit(ext)
    proc = subprocess.run(
        [*SNAKEMAKE, "-s", str(root / "Snakefile"), "--cores", "2"],
        cwd=root,
        env={**env, "ROUTES_FOO": "b"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_fresh(seen(root), f"--batch {batch}")
