"""Every command the CLI prints for the researcher to type next carries the options that said
where things are, shell-quoted, and gives the same answer as the run that printed it: each
printed hint is run here, as pasted."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from helpers import pipe, run_cli, write_project

FILES = {
    "params/big.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            x: int = 0


        def get_params():
            return [P(name="good", x=1), P(name="bad set", x=-1)]
    """,
    "experiments/big.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["score"], cachers=[JsonCacher])
        def fit(record):
            if record.params.x < 0:
                raise ValueError("planted failure")
            return {"accuracy": 0.5 + record.params.x / 10}


        def run(param_sets, manager):
            for p in param_sets:
                fit(cf.Record(manager, p))
    """,
}


def hint(text: str, before: str) -> list[str]:
    """The command printed after ``before`` on a line (up to an optional ``[...]`` tail)."""
    line = next(ln for ln in text.splitlines() if before in ln)
    command = line.split(before, 1)[1].split(" [")[0].strip()
    words = shlex.split(command)
    assert words[0] == "cfcompile", line
    return words[1:]


def run_hint(root: Path, words: list[str]) -> subprocess.CompletedProcess:
    return run_cli(*words, cwd=root, check=False)


def test_the_hints_of_a_run_elsewhere_find_what_it_made(tmp_path):
    root = write_project(tmp_path / "proj", FILES)
    scratch = tmp_path / "scratch space" / "cache"  # a space: the hint must quote it
    where = ("--cache-path", str(scratch), "--prefix", "pre", "--workflow-dir", "wf dir")
    args = ("big", "-p", "big", *where)
    proc = pipe(root, *map(shlex.quote, args), cores="2", snakemake_args=("-k",))
    assert proc.returncode != 0  # one set failed
    text = proc.stdout + proc.stderr
    status = hint(text, "Every node's state: ")
    assert status[-1] == "--status" and str(scratch) in status and "wf dir" in status
    shown = run_hint(root, status)
    assert shown.returncode == 1, shown.stdout + shown.stderr  # a failure is there to see
    assert "planted failure" in shown.stdout and "totals: done 1, failed 1" in shown.stdout
    best = hint(text, "all of them, by another metric: ")
    ranked = run_hint(root, best)
    assert ranked.returncode == 0 and "accuracy 0.6" in ranked.stdout, ranked.stdout + ranked.stderr
    # without the options, the same selection looks at another cache: nothing ran there
    elsewhere = run_cli("big", "-p", "big", "--status", cwd=root, check=False)
    assert "totals: done 1" not in elsewhere.stdout


def test_submit_local_names_the_status_command_with_its_options(tmp_path):
    root = write_project(tmp_path / "proj", FILES)
    scratch = tmp_path / "scratch" / "cache"
    proc = subprocess.run(
        [sys.executable, "-m", "cfcompile.cli", "big", "-p", "big", "--cache-path",
         str(scratch), "--submit", "local"],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    status = hint(proc.stdout + proc.stderr, "their dependents were skipped. See ")
    status = status[: status.index("--status") + 1]
    shown = run_hint(root, status)
    assert "totals: done 1, failed 1" in shown.stdout, shown.stdout + shown.stderr
