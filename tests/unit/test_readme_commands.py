"""The README's two first commands are what a fresh machine runs, and CI runs the second."""

from __future__ import annotations

import re

from helpers import REPO


def _commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text.split("\n## ")[0], flags=re.S)


def test_ci_runs_exactly_the_readmes_test_command():
    first, second = _commands()[:2]
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == second


def test_both_commands_work_in_a_fresh_virtual_environment():
    """A global interpreter may import modules at start-up (a site .pth) that a researcher's
    environment does not: both commands make and use their own environment."""
    for command in _commands()[:2]:
        assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e" in command
