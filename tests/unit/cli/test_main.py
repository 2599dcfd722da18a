"""The ``cfcompile`` command's entry point (``cli.main``): each mode dispatched, each failure
reported on stderr and, in the documented pipe, as a Snakefile that fails with it."""

from __future__ import annotations

import pytest
from helpers import CHAIN

from cfcompile.cli.main import main

pytestmark = pytest.mark.usefixtures("process_settings_kept")


def test_no_arguments_show_the_help(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("usage: cfcompile")


def test_ls_lists_the_projects_experiments(project, capsys):
    root = project(CHAIN)
    assert main(["ls", "--project", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"PROJECT: {root}" in out and "chain  ok" in out and "few    ok" in out


def test_a_compile_that_fails_hands_snakemake_a_failing_snakefile(project, capsys):
    root = project(CHAIN)
    assert main(["nope", "-p", "few", "--project", str(root)]) == 2
    captured = capsys.readouterr()
    assert "cfcompile: error:" in captured.err and "'nope'" in captured.err
    assert captured.out.startswith("# cfcompile could not compile this workflow")
    message = captured.err.strip().splitlines()[-1]
    assert captured.out.endswith(f"\nraise Exception({message!r})\n")  # a literal, never code
    assert main(["nope", "-p", "few", "--project", str(root), "--dry-run"]) == 2
    assert capsys.readouterr().out == ""  # not compiling: nothing for Snakemake


def test_init_profile_copies_the_profiles_or_says_how_to_call_it(tmp_path, capsys):
    assert main(["--init-profile", str(tmp_path)]) == 0
    assert (tmp_path / "cluster_profiles" / "slurm" / "cfcompile.yaml").is_file()
    assert main(["--init-profile", str(tmp_path)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err
    assert main(["--init-profile", "-x"]) == 2
