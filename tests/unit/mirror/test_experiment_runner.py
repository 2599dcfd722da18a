"""curifactory's ``run_experiment`` and ``python -m cfcompile.experiment SCRIPT``, run by
cfcompile in this process (``mirror.experiment_runner``), on the chain project."""

from __future__ import annotations

import sys

import pytest
from helpers import CHAIN

from cfcompile.errors import CfcompileError
from cfcompile.mirror import experiment_runner
from cfcompile.mirror.experiment_runner import (
    ParamFileNotFoundError,
    ParamSelectionError,
    run_experiment,
)


@pytest.fixture
def in_chain(project, tmp_path, monkeypatch):
    """The chain project as the working directory, as curifactory's ``experiment`` needs."""
    root = project(CHAIN)
    monkeypatch.chdir(root)
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    return root, tmp_path / "log"


def test_the_selected_sets_run_eagerly_in_this_process(in_chain):
    root, log = in_chain
    results, manager = run_experiment("chain", ["few"], param_set_names=["s1"], report=False)
    assert results is None and manager.status == "complete"  # run() returns nothing
    assert log.read_text().splitlines() == ["first s1", "second s1", "total"]
    assert manager.param_file_param_sets["few"] == [("s1", manager.records[0].params.hash)]
    assert list((root / "data" / "cache").glob("chain_*_total_total.json"))


def test_hashes_only_names_each_set_and_runs_nothing(in_chain, capsys):
    root, log = in_chain
    hashes, _ = run_experiment("chain", ["few"], hashes_only=True)
    assert sorted(hashes.values()) == ["s0", "s1", "s2"]
    printed = capsys.readouterr().out.splitlines()
    assert sorted(printed) == sorted(f"{h} {n}" for h, n in hashes.items())
    assert not log.exists()


def test_what_cannot_run_says_why(in_chain):
    with pytest.raises(CfcompileError, match="map_only=...\\) is not supported"):
        run_experiment("chain", ["few"], map_only=True)
    with pytest.raises(ParamSelectionError, match="Paramset name 'nope' not found"):
        run_experiment("chain", ["few"], param_set_names=["nope"])
    with pytest.raises(ParamFileNotFoundError, match="parameter file 'missing' is in neither"):
        run_experiment("chain", ["missing"])


def test_a_script_runs_with_curifactory_meaning_cfcompile(tmp_path, monkeypatch, capsys):
    script = tmp_path / "script.py"
    script.write_text("import sys, curifactory\nprint(curifactory.__name__, sys.argv[1:])\n")
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the script gets its own
    assert experiment_runner.main([str(script), "--x", "1"]) == 0
    assert capsys.readouterr().out == "cfcompile ['--x', '1']\n"
    assert experiment_runner.main([]) == 2  # no script: the usage, as an error
    assert "usage: python -m cfcompile.experiment SCRIPT.py" in capsys.readouterr().out
