"""Running a written Snakefile (``backends.snakemake.launch``): the snakemake command, with a
profile and a logger, built here and run through a stand-in for ``subprocess.call``."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

from helpers import REPO

from cfcompile.backends.snakemake import launch
from cfcompile.core.workdir import SNAKEFILE


def no_plugins(monkeypatch, *installed: str) -> None:
    """Only ``installed`` of the two logger plugins are found (by ``launch``, nothing else)."""
    find = lambda name: object() if name in installed else None  # noqa: E731
    monkeypatch.setattr(launch, "importlib", SimpleNamespace(util=SimpleNamespace(find_spec=find)))


def test_the_command_runs_the_versions_snakefile_on_the_cores_asked_for(monkeypatch):
    no_plugins(monkeypatch)
    cmd = launch.snakemake_command("/wf/v/1", None, "4", ["-k"], interactive=False)
    assert cmd == [sys.executable, "-m", "snakemake", "-s", os.path.join("/wf/v/1", SNAKEFILE),
                   "--cores", "4", "-k"]  # fmt: skip
    assert launch.snakemake_command("/wf/v/1", None, None, [], False)[-2:] == ["--cores", "all"]


def test_a_profile_is_resolved_and_then_gives_the_cores(monkeypatch):
    no_plugins(monkeypatch)
    cmd = launch.snakemake_command("/wf/v/1", "slurm", None, [], interactive=False)
    assert cmd[-2:] == ["--profile", str(REPO / "cluster_profiles" / "slurm")]
    assert "--cores" not in cmd  # the profile says how many jobs
    assert launch.snakemake_command("/wf/v/1", "slurm", "8", [], False)[-2:] == ["--cores", "8"]


def test_the_logger_is_ours_if_installed_else_rich_at_a_terminal_never_twice(monkeypatch):
    no_plugins(monkeypatch, launch.OUR_LOGGER, launch.RICH_LOGGER)
    assert launch.logger_args([], interactive=False) == ["--logger", "cfcompile"]
    assert launch.logger_args(["--logger=plain"]) == []  # the researcher's own choice wins
    no_plugins(monkeypatch, launch.RICH_LOGGER)
    assert launch.logger_args([], interactive=True) == ["--logger", "rich"]
    assert launch.logger_args([], interactive=False) == []  # in a pipe, redrawn bars are noise
    no_plugins(monkeypatch)
    assert launch.logger_args([], interactive=True) == []


def test_run_snakemake_names_what_the_researcher_typed_in_the_runs_provenance(monkeypatch, capsys):
    no_plugins(monkeypatch)
    calls = []

    def call(cmd, cwd, env):
        calls.append((cmd, cwd, env))
        return 3

    monkeypatch.setattr(launch.subprocess, "call", call)
    monkeypatch.setattr(sys, "argv", ["cfcompile", "exp", "-p", "a b", "--run"])
    assert launch.run_snakemake("/wf/v/1", "/proj", None, "2", []) == 3  # its exit status
    ((cmd, cwd, env),) = calls
    assert cwd == "/proj" and cmd[-2:] == ["--cores", "2"]
    assert env["CFCOMPILE_COMMAND"].startswith("cfcompile exp -p 'a b' --run (runs: ")
    assert f"cfcompile: {' '.join(cmd)}" in capsys.readouterr().err
