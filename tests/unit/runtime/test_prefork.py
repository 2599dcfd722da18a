"""The worker forked from the compiling process (``runtime.prefork``): when it is wanted, and
how a fork that is never told a version lets its worker go."""

from __future__ import annotations

import json
import os
import sys

from cfcompile.runtime import prefork


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
