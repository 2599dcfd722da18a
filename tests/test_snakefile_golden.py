"""The emitted Snakefile, compared line by line with a reviewed copy (tests/golden/).

A change to the emitter shows up here as a diff to read, not as a side effect found later.
Paths that depend on the machine (the project folder, the interpreter) are replaced by
placeholders; hashes are stable (they depend only on the parameter values).
Regenerate after a deliberate change:
    CFCOMPILE_UPDATE_GOLDEN=1 pytest tests/test_snakefile_golden.py
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from helpers import CHAIN, run_cli

from cfcompile.runtime import client

GOLDEN = Path(__file__).parent / "golden"


def normalised(text: str, root: Path) -> str:
    text = text.replace(str(root), "<ROOT>").replace(sys.executable, "<PYTHON>")
    text = text.replace(client.__file__, "<CLIENT>")
    return re.sub(r"/v/[0-9a-f]{16}", "/v/<DIGEST>", text)  # the version folder's digest


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CFCOMPILE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"Snakefile differs from {path}; diff them"


def test_chain_snakefile_matches_golden(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(CHAIN)
    check("chain.Snakefile", normalised(run_cli("chain", "-p", "few", cwd=root).stdout, root))


def test_batched_chain_snakefile_matches_golden(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(CHAIN)
    text = run_cli("chain", "-p", "few", "--batch", "2", cwd=root).stdout
    check("chain-batch2.Snakefile", normalised(text, root))
