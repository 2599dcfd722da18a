"""runtime/: a compiled version opened, the eager engines, the compile-forked worker's rules,
and the public paths that hand on to the runtime (cfcompile.job, cfcompile/client.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CHAIN, REPO, run_cli

import cfcompile as cf
import cfcompile.job
from cfcompile.core.workdir import current_version, done_path
from cfcompile.errors import RecompileError
from cfcompile.runtime import eager, job_runner, prefork, workflow_version


@pytest.fixture
def chain(project, tmp_path):
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", "--batch", "1", cwd=root, env=env)
    return root, str(root / ".cfcompile" / "chain"), env


def test_a_compiled_version_opens_with_its_sets_nodes_and_stages(chain):
    root, workdir, _ = chain
    opened = workflow_version.WorkflowVersion(workdir)  # the workflow folder: its current version
    assert opened.version == current_version(workdir)
    name, key = opened.info.param_sets[0]
    assert opened.params(key).name == name == "s0"
    node = opened.node(("first", key))
    assert opened.spec(node).name == "first" and node.targets()[0].endswith("_first_a.json")
    with pytest.raises(RecompileError, match="no node"):
        opened.node(("first", "abc"))
    with pytest.raises(RecompileError, match="not in this workflow"):
        opened.params("abc")


def test_the_public_job_path_is_the_runtime():
    assert cfcompile.job.run_task is job_runner.run_task and cfcompile.job.main is job_runner.main


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


def test_the_eager_engines_count_and_the_dry_one_writes_nothing(tmp_path):
    @cf.stage(outputs=["v"], cachers=[cf.caching.JsonCacher])
    def v(record):
        return 1

    for engine_type, writes in ((eager.DryEagerEngine, False), (eager.EagerEngine, True)):
        engine = engine_type()
        m = cf.ArtifactManager("e", cache_path=str(tmp_path / "c"), engine=engine, folders=False)
        v(cf.Record(m, cf.ExperimentParameters(name="a")))
        assert engine.ran == [("v", "a")] and engine.cached == []
        assert bool(list((tmp_path / "c").glob("*.json"))) is writes
    again = eager.EagerEngine()
    m = cf.ArtifactManager("e", cache_path=str(tmp_path / "c"), engine=again, folders=False)
    v(cf.Record(m, cf.ExperimentParameters(name="a")))
    assert again.cached == [("v", "a")]


def test_the_compile_forks_no_worker_where_jobs_would_not_reach_it(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("CFCOMPILE_WORKER", "1")
    assert prefork.wanted() is (sys.platform == "linux")
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # a Slurm task runs its nodes in process
    assert not prefork.wanted()
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv("CFCOMPILE_WORKER", "0")
    assert not prefork.wanted()


def test_a_prefork_without_an_announcement_lets_its_worker_go():
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    fork = prefork.Prefork(w1, r2)
    fork.close()
    fork.close()  # twice is harmless
    assert os.read(r1, 10) == b""  # end of file: the worker reads no version and leaves
    for fd in (r1, w2, r2):
        try:
            os.close(fd)
        except OSError:
            pass
    assert json.dumps({"closed": fork.to_worker}) == '{"closed": -1}'
