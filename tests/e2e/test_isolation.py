"""A set's fate does not depend on its neighbours: a failing set in a job unit (or an array
task) fails its own chain; the unit's other sets run, keep their outputs and are not redone."""

from __future__ import annotations

import pytest
from helpers import pipe, project_files, run_cli

ISO = project_files("isolation")
HEALTHY = [f"s{i}" for i in range(1, 6)]  # s0 fails: the first chain of its unit


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("route", ["pipe", "submit-local"])
def test_one_failing_set_leaves_the_rest_of_its_unit_running(project, tmp_path, route):
    root = project(ISO)
    log = tmp_path / "log"
    env = {"ISO_LOG": str(log), "FAIL_X": "0"}
    if route == "pipe":  # three sets' chains a job: s1 and s2 share s0's unit
        proc = pipe(root, "iso", "-p", "six", "--batch", "3", cores="2",
                    snakemake_args=("-k",), env=env)  # fmt: skip
    else:
        proc = run_cli("iso", "-p", "six", "--batch", "3", "--submit", "local", cwd=root,
                       env=env, check=False)  # fmt: skip
    assert proc.returncode != 0, proc.stderr  # the run says something failed
    ran = lines(log)
    assert sorted(line for line in ran if line.startswith("second")) == [
        f"second {s}" for s in HEALTHY
    ]  # every healthy set finished, its unit's neighbours included
    assert "second s0" not in ran and "total" not in ran
    status = run_cli("iso", "-p", "six", "--batch", "3", "--status", cwd=root, env=env, check=False)
    assert status.returncode == 1
    assert "interrupted" not in status.stdout, status.stdout
    assert "x=0 fails on purpose" in status.stdout
    # fixed: the rerun runs only the failed set's chain (and the aggregate it blocked)
    log.write_text("")
    env["FAIL_X"] = ""
    if route == "pipe":
        proc = pipe(root, "iso", "-p", "six", "--batch", "3", cores="2", env=env)
    else:
        proc = run_cli("iso", "-p", "six", "--batch", "3", "--submit", "local", cwd=root,
                       env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(lines(log)) == ["first s0", "second s0", "total"]
