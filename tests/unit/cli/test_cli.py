"""The ``cfcompile`` console script (``cfcompile.cli:main``) and ``python -m cfcompile.cli``
(``cli/__main__.py``): both are ``cli.main.main``."""

from __future__ import annotations

import importlib
import runpy
import sys

import pytest

import cfcompile.cli


def test_the_console_script_is_the_mains_entry_point():
    assert cfcompile.cli.main is importlib.import_module("cfcompile.cli.main").main


def test_python_dash_m_runs_the_command_and_exits_with_its_status(
    monkeypatch, capsys, process_settings_kept
):
    monkeypatch.setattr(sys, "argv", ["cfcompile"])  # no arguments: the help, status 0
    monkeypatch.delitem(sys.modules, "cfcompile.cli.__main__", raising=False)
    with pytest.raises(SystemExit) as ended:
        runpy.run_module("cfcompile.cli", run_name="__main__")
    assert ended.value.code == 0
    assert capsys.readouterr().out.startswith("usage: cfcompile")
    monkeypatch.setattr(sys, "argv", ["cfcompile", "--init-profile", "a", "b"])
    with pytest.raises(SystemExit) as ended:
        runpy.run_module("cfcompile.cli", run_name="__main__")
    assert ended.value.code == 2 and "usage: cfcompile --init-profile" in capsys.readouterr().err
