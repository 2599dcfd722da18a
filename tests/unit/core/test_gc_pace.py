"""The compile's collector pace, and a node's: the interpreter's own thresholds come back.

The pace is process-wide: the first test reads it in a fresh interpreter started with its own
thresholds (what only a new process shows: FRESH is read at first import); the second calls
the functions here and puts pytest's own thresholds back.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from cfcompile.core import gc_pace

SCRIPT = """
import gc, json
gc.set_threshold(900, 11, 12)  # an interpreter started with its own settings (PYTHON* or code)
import cfcompile.core.gc_pace as gc_pace
seen = {"fresh": gc_pace.FRESH}
gc_pace.compile_pace()
seen["compile"] = gc.get_threshold()
gc_pace.fresh_pace()
seen["node"] = gc.get_threshold()
print(json.dumps(seen))
"""


def test_compile_pace_relaxes_the_young_generation_and_fresh_pace_restores_it():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    seen = json.loads(out)
    assert seen["fresh"] == [900, 11, 12]  # read at first import, not a hard-coded 700
    assert seen["compile"] == [10_000, 11, 12]
    assert seen["node"] == [900, 11, 12]


def test_the_pace_functions_set_the_thresholds_in_this_process():
    saved = gc.get_threshold()
    try:
        gc_pace.compile_pace()
        young, *older = gc.get_threshold()
        assert young == max(gc_pace.COMPILE_YOUNG, gc_pace.FRESH[0])
        assert older == list(gc_pace.FRESH[1:])
        gc_pace.fresh_pace()
        assert gc.get_threshold() == gc_pace.FRESH
    finally:
        gc.set_threshold(*saved)
