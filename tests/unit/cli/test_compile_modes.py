"""``release_stdout``: whatever reads our stdout sees its end at once, not at our exit."""

from __future__ import annotations

import subprocess
import sys
import time

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
