"""Where and from what code a result came (``core.provenance``)."""

from __future__ import annotations

import subprocess

from cfcompile.core import provenance


def test_provenance_records_the_commit_and_a_dirty_tree(tmp_path):
    assert provenance.git_info(str(tmp_path)) == {"git_commit": None, "git_dirty": None}
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    clean = provenance.git_info(str(tmp_path))
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] is False
    (tmp_path / "f").write_text("2")
    assert provenance.git_info(str(tmp_path))["git_dirty"] is True
    info = provenance.run_info(str(tmp_path), "exp", ["cfcompile", "exp"])
    assert info["cli"] == "cfcompile exp" and info["experiment_name"] == "exp"
