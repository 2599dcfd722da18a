"""The emitted Snakefile, compared line by line with a reviewed copy (tests/golden/).

A change to the emitter shows up here as a diff to read, not as a side effect found later.
After a deliberate change, rewrite the copies with ``python tests/golden/snakefiles.py`` and
review the diff; this test never writes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "golden"))
import snakefiles  # noqa: E402


@pytest.mark.parametrize("name", sorted(snakefiles.CASES))
def test_snakefile_matches_golden(name, tmp_path):
    path = snakefiles.HERE / name
    assert snakefiles.emitted(name, tmp_path) == path.read_text(), (
        f"the Snakefile differs from {path}: run python tests/golden/snakefiles.py and read "
        "the diff"
    )
