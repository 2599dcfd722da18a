"""The compiling modes (``cli.compile_modes``): ``release_stdout``, whatever reads our stdout
sees its end at once, not at our exit (in a fresh interpreter: only a process's exit shows
it); and ``cfcompile ls``'s rows."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cfcompile.cli.compile_modes import ls_row
from cfcompile.project.discover import EXPERIMENTS, PARAMS, ModuleInfo

SCRIPT = """
import sys, time
from cfcompile.cli.compile_modes import release_stdout
sys.stdout.write("the snakefile\\n")
release_stdout()
print("after the release: not for the reader")
time.sleep(2)  # the rest of the process's life: the reader must not wait for it
"""


def test_the_reader_gets_what_was_written_and_its_end_before_the_process_exits():
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE)
    text = proc.stdout.read()
    eof = time.monotonic()
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - eof > 1.5
    assert text == b"the snakefile\n"


def test_an_ls_row_says_what_to_fix_first():
    def info(**kw):
        fields = {"name": "m", "kind": EXPERIMENTS, "path": Path("m.py"), "doc": "First.\nMore.",
                  "error": None, "has_run": True, "has_get_params": False}  # fmt: skip
        return ModuleInfo(**{**fields, **kw})

    assert ls_row(info(), EXPERIMENTS) == ("m", "ok", "First.")
    assert ls_row(info(has_run=False), EXPERIMENTS) == ("m", "no run()", "First.")
    assert ls_row(info(), PARAMS) == ("m (experiments/)", "no get_params()", "First.")
    broken = info(error="Traceback ...\nModuleNotFoundError: No module named 'x'")
    assert ls_row(broken, EXPERIMENTS) == (
        "m",
        "import error",
        "ModuleNotFoundError: No module named 'x'",
    )
