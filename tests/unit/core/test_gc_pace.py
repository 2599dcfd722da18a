"""The compile's collector pace, and a node's: the interpreter's own thresholds come back.

In a fresh interpreter each, because the pace is process-wide (pytest's own must not move).
"""

from __future__ import annotations

import json
import subprocess
import sys

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
