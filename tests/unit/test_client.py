"""``python -I -S .../cfcompile/client.py WORKDIR ARGS`` (``cfcompile/client.py``): the path every
Snakefile's job command names loads the job client from its file and hands on to it.

Run here with ``runpy`` as ``__main__``, the job's ``exec`` replaced by a probe; the real
interpreter (``-I -S``) and the node it runs are tests/cli/test_job_client_path.py's.
"""

from __future__ import annotations

import os
import runpy
import sys

import pytest
from helpers import REPO

CLIENT = str(REPO / "cfcompile" / "client.py")


class Exec(Exception):
    """What the probe raises instead of replacing this process."""


def test_without_a_worker_the_client_becomes_the_job_runtime(tmp_path, monkeypatch):
    version = tmp_path / "wf" / "v" / "abc"
    version.mkdir(parents=True)
    (version / "workflow.json").write_text("{}")

    def execv(path, argv):
        raise Exec(path, argv)

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setenv("CFCOMPILE_WORKER", "0")
    monkeypatch.setattr(sys, "argv", [CLIENT, str(version), "--stage", "fit", "--hash", "ab"])
    with pytest.raises(Exec) as ran:
        runpy.run_path(CLIENT, run_name="__main__")
    path, argv = ran.value.args
    assert path == sys.executable
    assert argv == [sys.executable, "-P", "-m", "cfcompile.job", str(version),
                    "--stage", "fit", "--hash", "ab"]  # fmt: skip


def test_imported_rather_than_run_it_does_nothing(monkeypatch):
    def execv(path, argv):
        raise AssertionError("an import must not start a job")

    monkeypatch.setattr(os, "execv", execv)
    names = runpy.run_path(CLIENT, run_name="cfcompile.client")
    assert "client" not in names  # the job client is loaded only when run as a script
