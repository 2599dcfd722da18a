"""``cfcompile ls``: experiments and parameter files with their docstrings, import errors."""

from __future__ import annotations

import re

from helpers import CHAIN, run_cli


def test_ls_lists_docstrings_and_import_errors(project):
    files = dict(CHAIN)
    files["params/broken.py"] = "import no_such_module_here\n"
    files["experiments/norun.py"] = '"""Nothing to run."""\n'
    root = project(files)
    out = run_cli("ls", cwd=root).stdout
    assert re.search(r"^  chain +ok +A two-stage chain", out, re.M)
    assert re.search(r"^  few +ok +Three small sets\.", out, re.M)
    assert re.search(r"^  broken +import error +ModuleNotFoundError", out, re.M)
    assert re.search(r"^  norun +no run\(\) +Nothing to run\.", out, re.M)
