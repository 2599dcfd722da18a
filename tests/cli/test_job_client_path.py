"""``python -I -S cfcompile/client.py`` (what Snakefiles compiled before the move run) on a
workflow compiled by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CHAIN, REPO, run_cli

from cfcompile.core.workdir import done_path
from cfcompile.runtime import workflow_version


@pytest.fixture
def chain(project, tmp_path):
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", "--batch", "1", cwd=root, env=env)
    return root, str(root / ".cfcompile" / "chain"), env


def test_the_client_path_old_snakefiles_name_still_runs_a_node(chain):
    """``python -I -S cfcompile/client.py`` (what Snakefiles compiled before the move run) runs
    the runtime client, which without a worker becomes ``python -m cfcompile.job``."""
    root, workdir, env = chain
    key = workflow_version.WorkflowVersion(workdir).info.param_sets[0][1]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / "cfcompile/client.py"), workdir]
        + ["--stage", "first", "--hash", key],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "CFCOMPILE_WORKER": "0"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert os.path.exists(done_path(workdir, ("first", key)))
    assert Path(env["CHAIN_LOG"]).read_text() == "first s0\n"
