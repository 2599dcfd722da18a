"""The garbage collector's pace: relaxed for the compile, a fresh interpreter's for nodes.

A compile allocates millions of small objects that live until it ends (nodes, their inputs,
plans, rows). Python's cyclic collector runs a young-generation pass every 700 net
allocations and walks them all again and again: 0.3 s of a 1.25 s ``--dry-run`` of 20,000
nodes (measured here with ``gc.disable()``). A young generation of 10,000 gives that back
(0.97 s) for about 7 MB more. Nothing else changes: garbage is still collected, later.

Nodes must run as in a fresh process, so the forked worker and anything that runs stages
in this process (``--eager``) get the interpreter's own settings back (``fresh_pace``).
"""

from __future__ import annotations

import gc

FRESH = gc.get_threshold()
"""The thresholds this interpreter started with, read when cfcompile is first imported."""
COMPILE_YOUNG = 10_000


def compile_pace() -> None:
    """Collect the young generation every ``COMPILE_YOUNG`` allocations, not every 700."""
    gc.set_threshold(max(COMPILE_YOUNG, FRESH[0]), *FRESH[1:])


def fresh_pace() -> None:
    """The thresholds a fresh interpreter has: what a stage sees wherever it runs."""
    gc.set_threshold(*FRESH)
