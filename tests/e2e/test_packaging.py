"""The wheel a researcher installs ships the templates and the cluster profiles, which live at
the top of the repository (setuptools package-dir maps them into cfcompile)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from helpers import REPO


def test_the_wheel_ships_templates_and_cluster_profiles(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("cfcompile-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "cfcompile/templates/__init__.py",
        "cfcompile/templates/Snakefile.j2",
        "cfcompile/templates/report.html.j2",
        "cfcompile/templates/report_index.html.j2",
        "cfcompile/cluster_profiles/__init__.py",
        "cfcompile/cluster_profiles/local/config.yaml",
        "cfcompile/cluster_profiles/slurm/config.yaml",
        "cfcompile/runtime/job_client.py",
        "cfcompile/client.py",  # the path Snakefiles compiled before the move name
    ):
        assert name in names, name
    assert not any(n.startswith(("templates/", "cluster_profiles/", "tests/")) for n in names)
