"""The four places where copies of a rule once disagreed, through the real CLI: the batch
rule's runtime, ``--submit local --batch``, ``--dry-run``'s core hours and ``--status``'s log
of a batched node (the last runs Snakemake)."""

from __future__ import annotations

import json
import os

import pytest
from helpers import CHAIN, run_cli

RUNTIME = {
    **CHAIN,
    "experiments/chain.py": CHAIN["experiments/chain.py"].replace(
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher])',
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher], '
        'resources={"runtime": 30})',
    ),
    "params/many.py": (
        "from params import Params\n\n"
        "def get_params():\n    return [Params(name=f'm{i}', x=i) for i in range(8)]\n"
    ),
}


def test_batch_rule_runtime_is_the_sum_of_its_chains(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(RUNTIME)
    snakefile = run_cli("chain", "-p", "many", "--batch", "4", cwd=root).stdout
    rule = snakefile[snakefile.index("rule cfcompile_batch:") :].split("\nrule ")[0]
    assert "runtime=lambda wildcards, attempt: 120 * attempt" in rule, rule


def test_submit_local_honours_batch(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(RUNTIME)
    out = run_cli("chain", "-p", "many", "--submit", "local", "--batch", "4", cwd=root).stdout
    chains = next(ln for ln in out.splitlines() if "chains" in ln)
    assert "2 task(s), 16 node(s)" in chains, out
    assert (tmp_path / "log").read_text().count("second") == 8
    status = run_cli("chain", "-p", "many", "--status", cwd=root).stdout
    assert "last run: cfcompile chain -p many --submit local --batch 4 (started " in status
    assert status.rstrip().endswith("succeeded)")


def test_dry_run_counts_a_timeout_only_stage_in_core_hours(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    files = dict(CHAIN)
    files["experiments/chain.py"] = CHAIN["experiments/chain.py"].replace(
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher])',
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher], timeout=600)',
    )
    root = project(files)
    summary = json.loads(run_cli("chain", "-p", "few", "--dry-run", "--json", cwd=root).stdout)
    assert summary["stages"]["second"]["core_hours"] == pytest.approx(3 * 11 / 60, abs=1e-3)
    assert summary["totals"]["nodes_without_declared_runtime"] == 4  # first x3 + total
    snakefile = run_cli("chain", "-p", "few", "--batch", "1", cwd=root).stdout
    rule = snakefile[snakefile.index("rule second:") :].split("\nrule ")[0]
    # the same 11 minutes reach the scheduler (doubled for a retried attempt)
    assert "runtime=lambda wildcards, attempt: 11 * attempt" in rule


def test_status_points_batched_nodes_at_their_unit_log(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    files = dict(CHAIN)
    files["experiments/chain.py"] = CHAIN["experiments/chain.py"].replace(
        '_log(f"second {record.params.name}")',
        '_log(f"second {record.params.name}")\n    assert record.params.x != 1, "boom"',
    )
    root = project(files)
    snakefile = run_cli("chain", "-p", "few", "--batch", "2", cwd=root).stdout
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", "/dev/stdin", "--cores", "2", "-k"],
        input=snakefile,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    status = run_cli("chain", "-p", "few", "--status", cwd=root, check=False).stdout
    line = next(ln for ln in status.splitlines() if ln.split()[:2] == ["second", "s1"])
    log = line.split()[-1]
    assert "failed" in line and log.endswith(os.path.join("logs", "batches", "0.log")), status
    assert "boom" in open(log).read()
