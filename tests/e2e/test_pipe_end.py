"""The ends of the README's pipe: when the reader sees the Snakefile end, and a reader that left.

Snakemake parses ``/dev/stdin`` only once the compile's end of the pipe closes. These tests run
the real console command with a real pipe; the researcher's module registers an exit handler
that takes seconds (as a torch or a logging library's would), so that "the end came with the
process's exit" and "the end came with the Snakefile" are seconds apart, not milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from helpers import CHAIN, write_project

SLOW_EXIT = """
import atexit
import time

atexit.register(time.sleep, 3)  # a library's slow exit handler, run when the compile exits
"""


def test_the_reader_sees_the_end_of_the_snakefile_before_the_compile_exits(tmp_path):
    files = dict(CHAIN)
    files["experiments/chain.py"] = SLOW_EXIT + files["experiments/chain.py"]
    root = write_project(tmp_path / "p", files)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cfcompile.cli", "chain", "-p", "few"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"CHAIN_LOG": str(tmp_path / "log"), **os.environ},
    )
    text = proc.stdout.read()  # returns at the end of file: when every writer has closed it
    eof = time.monotonic()
    proc.wait(timeout=60)
    exited = time.monotonic()
    assert proc.returncode == 0, proc.stderr.read().decode()
    assert b"rule all:" in text
    # the exit handler's 3 s came after the end of file, not before it
    assert exited - eof > 2.0, (eof, exited)


def test_a_reader_that_left_gets_a_message_not_a_traceback(tmp_path):
    root = write_project(tmp_path / "p", CHAIN)
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m cfcompile.cli chain -p few | true"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"CHAIN_LOG": str(tmp_path / "log"), **os.environ},
    )
    assert proc.returncode == 2, proc.stderr
    assert "the command reading the Snakefile exited before reading all of it" in proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
