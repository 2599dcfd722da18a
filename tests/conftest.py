"""Fixtures: private project copies, the session's Slurm cluster, logging state."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import IRIS, REPO, write_project

# curifactory's own test tree, vendored: tests/oracle/test_curifactory_suite.py runs it in a
# subprocess of its own (under curifactory, then under cfcompile), never in this session
collect_ignore = ["curifactory_suite"]


@pytest.fixture
def project(tmp_path):
    """A factory: project({path: source}) -> project root."""

    def make(files: dict[str, str]) -> Path:
        return write_project(tmp_path / "proj", files)

    return make


@pytest.fixture
def iris_copy(tmp_path):
    """A private copy of the bundled iris example (so tests never share caches)."""

    dest = tmp_path / "iris"
    shutil.copytree(IRIS, dest, ignore=shutil.ignore_patterns("data", ".cfcompile", "__pycache__"))
    return dest


CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"


SLURM_STATE: dict = {"up": False, "reason": "not attempted"}


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster():
    """Bring the real single-node Slurm cluster up for the session (tests/slurm/cluster.sh).

    It serves the Slurm tests, and it matters for every Snakemake call too: the slurm executor
    plugin runs ``scontrol show config`` at import, which hangs ~9 s per Snakemake start when
    Slurm is installed but its controller is down. Where the cluster cannot start (no root, no
    apt, CFCOMPILE_NO_SLURM=1) the Slurm tests are skipped with the reason.
    """
    if os.environ.get("CFCOMPILE_NO_SLURM"):
        SLURM_STATE.update(up=False, reason="CFCOMPILE_NO_SLURM is set")
        yield SLURM_STATE
        return
    proc = subprocess.run(["bash", str(CLUSTER), "up"], capture_output=True, text=True)
    started = proc.returncode == 0 and "already up" not in proc.stdout
    if proc.returncode == 0:
        SLURM_STATE.update(up=True, reason="")
    else:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        SLURM_STATE.update(up=False, reason=f"cluster.sh up exited {proc.returncode}: {tail}")
        print(f"\nSlurm tests will be skipped: {SLURM_STATE['reason']}")
    os.environ.setdefault("USER", "root")  # the slurm plugin and submitit read $USER
    yield SLURM_STATE
    if started:
        subprocess.run(["bash", str(CLUSTER), "down"], capture_output=True, text=True)


@pytest.fixture
def slurm(slurm_cluster):
    if not slurm_cluster["up"]:
        pytest.skip(f"no Slurm cluster here: {slurm_cluster['reason']}")
    return slurm_cluster


@pytest.fixture(autouse=True)
def cfcompile_logging_enabled():
    """curifactory (imported in process by the oracle tests) may disable existing loggers."""
    import logging

    logging.getLogger("cfcompile").disabled = False
    yield


@pytest.fixture(autouse=True)
def curifactory_modules_restored():
    """In-process tracing aliases ``curifactory`` to cfcompile (compat.install); the oracle
    tests need the real package back, whatever ran before them."""
    import sys

    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "curifactory"}
    yield
    for key in [k for k in sys.modules if k.split(".")[0] == "curifactory"]:
        del sys.modules[key]
    sys.modules.update(saved)


@pytest.fixture(autouse=True)
def project_modules_forgotten():
    """A test that traces or opens a project in process imports its ``experiments`` and
    ``params`` (and puts its root on sys.path, with a finder for its packages): forget all of
    that afterwards, so the next test's project of the same package names is its own."""
    import sys

    path, meta_path = list(sys.path), list(sys.meta_path)
    before = set(sys.modules)
    yield
    sys.path[:] = path
    sys.meta_path[:] = meta_path
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None) or ""
        if name.split(".")[0] in ("experiments", "params") or "/pytest-of-" in file:
            del sys.modules[name]
