"""The job command Snakemake runs (``runtime.job_client``): which worker a job asks, whether it
asks at all, and which version folder it names. The real worker processes and sockets are
tests/cli/test_worker_processes.py's."""

from __future__ import annotations

import os
import socket

from cfcompile.core.workdir import current_version
from cfcompile.runtime import job_client


def test_one_socket_per_workflow_folder_and_import_environment(tmp_path, monkeypatch):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert job_client.socket_path(a) == job_client.socket_path(a) != job_client.socket_path(b)
    assert os.path.dirname(job_client.socket_path(a)) == job_client.socket_dir()
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    before = job_client.socket_path(a)
    monkeypatch.setenv("PYTHONHASHSEED", "8")  # a job that imports differently: another worker
    assert job_client.socket_path(a) != before
    assert len(before.encode()) < 108  # AF_UNIX paths hold 107 bytes


def test_the_worker_is_asked_unless_turned_off_or_on_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("CFCOMPILE_WORKER", raising=False)
    assert job_client.worker_wanted()
    for off in ("0", "no", "Off", "false"):
        monkeypatch.setenv("CFCOMPILE_WORKER", off)
        assert not job_client.worker_wanted(), off
    monkeypatch.setenv("CFCOMPILE_WORKER", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    assert not job_client.worker_wanted()


def test_the_socket_folder_must_be_ours_and_closed_to_others(tmp_path):
    mine = tmp_path / "sockets"
    assert job_client.private_dir(str(mine)) and (mine.stat().st_mode & 0o777) == 0o700
    mine.chmod(0o755)
    assert not job_client.private_dir(str(mine))  # readable by others: refused
    (tmp_path / "file").write_text("")
    assert not job_client.private_dir(str(tmp_path / "file"))


def test_a_job_names_the_version_the_snakefile_announced_or_the_current_one(chain, monkeypatch):
    _, workdir, _ = chain
    version = current_version(workdir)
    monkeypatch.delenv("CFCOMPILE_VERSION", raising=False)
    assert job_client.resolve_version(workdir) == version  # the workflow folder: its current
    assert job_client.resolve_version(version) == version  # a version folder: itself
    announced = os.path.join(workdir, "v", "older")
    monkeypatch.setenv("CFCOMPILE_VERSION", announced)
    assert job_client.resolve_version(workdir) == announced
    monkeypatch.setenv("CFCOMPILE_VERSION", "/elsewhere/v/x")  # another workflow's: ignored
    assert job_client.resolve_version(workdir) == version


def test_nobody_listening_is_no_worker(tmp_path):
    path = str(tmp_path / "w.sock")
    assert job_client.connect(path) is None and job_client.connect_quiet(path) is None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        sock = job_client.connect(path)
        assert sock is not None
        sock.close()
    (tmp_path / "w.sock.failed").write_text(os.path.realpath(str(tmp_path / "v1")) + "\nboom\n")
    assert job_client.failed_for(path, str(tmp_path / "v1"))
    assert not job_client.failed_for(path, str(tmp_path / "v2"))  # a fix is retried
