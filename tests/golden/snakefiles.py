"""The reviewed Snakefiles in this folder, and the one command that rewrites them.

    python tests/golden/snakefiles.py        # rewrite them after a deliberate emitter change

The test (tests/unit/backends/snakemake/test_emit.py) only compares; a test run never
writes a golden file, whatever the environment says. Paths that depend on the machine (the
project folder, the interpreter, the client) become placeholders; hashes are stable (they
depend on the parameter values alone).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # helpers, when run as a script

from helpers import CHAIN, run_cli, write_project  # noqa: E402

CASES = {  # golden file -> cfcompile arguments on the chain project
    "chain.Snakefile": ["chain", "-p", "few"],
    "chain-batch2.Snakefile": ["chain", "-p", "few", "--batch", "2"],
}


def normalised(text: str, root: Path) -> str:
    from cfcompile.backends.snakemake.emit import CLIENT

    text = text.replace(str(root), "<ROOT>").replace(sys.executable, "<PYTHON>")
    text = text.replace(CLIENT, "<CLIENT>")
    return re.sub(r"/v/[0-9a-f]{16}", "/v/<DIGEST>", text)  # the version folder's digest


def emitted(name: str, folder: Path) -> str:
    """The Snakefile ``CASES[name]`` compiles to, from a fresh copy of the chain project."""
    root = write_project(folder / "proj", CHAIN)
    env = {"CHAIN_LOG": str(folder / "log")}
    return normalised(run_cli(*CASES[name], cwd=root, env=env).stdout, root)


def main() -> int:
    for name in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            text = emitted(name, Path(tmp))
        path = HERE / name
        old = path.read_text() if path.exists() else None
        path.write_text(text)
        print(f"{'unchanged' if old == text else 'rewrote'} {path}")
    return 0


if __name__ == "__main__":
    os.chdir(HERE.parent.parent)
    sys.exit(main())
