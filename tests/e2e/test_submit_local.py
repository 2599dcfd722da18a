"""--run and --submit local, and the array planner (no cluster needed)."""

from __future__ import annotations

import json

from helpers import CHAIN, run_cli, trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher


def test_run_passes_snakemake_exit_code(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(CHAIN)
    proc = run_cli("chain", "-p", "few", "--run", "--cores", "2", cwd=root)
    assert "snakemake" in proc.stderr
    total = next((root / "data" / "cache").glob("chain_*_total_total.json"))
    assert json.loads(total.read_text()) == 33
    bad = run_cli("chain", "-p", "few", "--run", "--", "--no-such-flag", cwd=root, check=False)
    assert bad.returncode != 0 and "no-such-flag" in bad.stderr  # snakemake's own exit code


def test_submit_local_runs_the_plan_and_status_reports_it(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(CHAIN)
    out = run_cli("chain", "-p", "few", "--submit", "local", cwd=root).stdout
    assert "level 0 chains: 3 task(s), 6 node(s)" in out
    assert "level 1 aggregates: 1 task(s), 1 node(s)" in out
    total = next((root / "data" / "cache").glob("chain_*_total_total.json"))
    assert json.loads(total.read_text()) == 33
    status = run_cli("chain", "-p", "few", "--status", cwd=root).stdout
    assert "totals: done 7" in status
    again = run_cli("chain", "-p", "few", "--submit", "local", cwd=root)
    assert "nothing to submit" in again.stderr


@cf.stage(outputs=["a"], cachers=[JsonCacher])
def a(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher])
def b(record, a):
    return 1


@cf.aggregate(inputs=["b"], outputs=["m"], cachers=[JsonCacher])
def m(record, records, b):
    return 1


@cf.stage(inputs=["m"], outputs=["after"], cachers=[JsonCacher])
def after(record, m):
    return 1


def test_plan_arrays_levels(tmp_path):
    from cfcompile.backends.slurm.limits import SiteLimits
    from cfcompile.backends.slurm.packing import pack
    from cfcompile.backends.slurm.site import SiteSettings
    from cfcompile.compiler.plan import plan

    def run(sets, manager):
        for p in sets:
            b(a(cf.Record(manager, p)))
        after(m(cf.Record(manager, None)))

    params = [cf.ExperimentParameters(name=f"p{i}") for i in range(3)]
    for i, p in enumerate(params):
        p.hash = f"{i:x}"  # distinct hashes for otherwise identical sets
    sg, _ = trace_graph(run, params, tmp_path)
    packing = pack(sg, plan(sg), SiteSettings(), SiteLimits(), 1)
    shape = [(r.level, r.kind, len(r.tasks), r.after_ok + r.after_corr) for r in packing.requests]
    # chains of a+b per set; the aggregate after them; the stage after the aggregate last
    assert shape == [(0, "chains", 3, []), (1, "aggregates", 1, [0]), (2, "chains", 1, [1])]


def test_submit_refuses_injection_through_partition_and_paths(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(CHAIN)
    bad = run_cli(
        "chain",
        "-p",
        "few",
        "--submit",
        "slurm",
        "--partition",
        "debug\ntouch PWNED",
        cwd=root,
        check=False,
    )
    assert bad.returncode == 2 and "not a plain name" in bad.stderr
    weird = run_cli(
        "chain",
        "-p",
        "few",
        "--workflow-dir",
        str(tmp_path / "wf\ntouch PWNED"),
        cwd=root,
        check=False,
    )
    assert weird.returncode == 2 and "control character" in weird.stderr
    assert not list(tmp_path.rglob("PWNED")) and not (root / "PWNED").exists()
