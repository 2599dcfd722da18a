"""The driver's steps in this process, on a small project on disk: ``build`` once, ``prepare``
the version folder, ``dry_run`` (``driver.pipeline``, ``driver.api``)."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import CHAIN, write_project

from cfcompile.driver.api import dry_run
from cfcompile.driver.pipeline import build, prepare, workdir_of
from cfcompile.driver.selection import Selection


def test_build_plans_once_and_prepare_writes_a_version(tmp_path):
    root = write_project(tmp_path / "chain", CHAIN)
    sel = Selection("chain", ("few",), project=str(root), workflow_dir=str(tmp_path / "wf"))
    built = build(sel)
    assert built.workdir == str(tmp_path / "wf") == workdir_of(built.project, sel)
    assert built.sg.info.where == ["--project", str(root), "--workflow-dir", str(tmp_path / "wf")]
    assert built.sg.info.command("--status").endswith(f"--workflow-dir {tmp_path}/wf --status")
    prepared = prepare(built)
    assert os.path.isfile(os.path.join(prepared.version, "workflow.json"))
    summary = dry_run(sel)
    assert summary["totals"]["nodes"] == len(built.sg.nodes()) == summary["totals"]["run"]


def test_what_the_researchers_code_prints_never_reaches_stdout(tmp_path):
    """stdout may be the Snakefile: prints (and C-level writes) go to stderr meanwhile."""
    code = (
        "import os, sys\n"
        "from cfcompile.driver.pipeline import researcher_output_to_stderr\n"
        "with researcher_output_to_stderr():\n"
        "    print('python print')\n"
        "    os.write(1, b'fd write\\n')\n"
        "print('after')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout == "after\n"
    assert "python print" in proc.stderr and "fd write" in proc.stderr
