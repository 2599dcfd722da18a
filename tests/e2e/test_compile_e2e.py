"""Compiled workflows run by the real Snakemake: same results as eager, minimal reruns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CHAIN, compiled_info, job_counts, run_cli, snakemake


@pytest.fixture(autouse=True)
def chain_log(tmp_path, monkeypatch):
    """Stages of the CHAIN project append to this file; jobs inherit it through the env."""
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))


def compile_and_run(
    root: Path, *cli: str, cores: str = "2", env=None
) -> subprocess.CompletedProcess:
    snakefile = run_cli(*cli, cwd=root, env=env).stdout
    return snakemake("-s", "/dev/stdin", "--cores", cores, cwd=root, stdin=snakefile)


def cache_files(root: Path) -> dict[str, bytes]:
    cache = root / "data" / "cache"
    return {p.name: p.read_bytes() for p in sorted(cache.iterdir()) if p.is_file()}


def test_iris_compiled_equals_eager_and_reruns_minimally(iris_copy, tmp_path):
    pytest.importorskip("sklearn", reason="the iris example needs scikit-learn")
    eager_root = tmp_path / "eager"
    shutil.copytree(iris_copy, eager_root)
    run_cli("iris", "-p", "base", "--eager", cwd=eager_root)
    compile_and_run(iris_copy, "iris", "-p", "base")
    ours, ref = cache_files(iris_copy), cache_files(eager_root)
    assert sorted(ours) == sorted(ref)
    for name in ours:
        if name.endswith(".json") and "metadata" not in name and "reportables" not in name:
            assert json.loads(ours[name]) == json.loads(ref[name]), name
        if name.endswith("_data.pkl"):
            assert ours[name] == ref[name], name  # numpy splits pickle byte-identically
    meta = json.loads(
        next((iris_copy / "data" / "cache").glob("*_train_model_model_metadata.json")).read_text()
    )
    assert meta["stage"] == "train_model" and meta["params"]["model_type"]
    assert meta["manager_run_info"]["hostname"] and "seconds" in meta["timing"]

    # a second run executes nothing
    snakefile = run_cli("iris", "-p", "base", cwd=iris_copy).stdout
    again = snakemake("-s", "/dev/stdin", "--cores", "2", cwd=iris_copy, stdin=snakefile)
    assert "Nothing to be done" in again.stdout + again.stderr

    # deleting one parameter set's model reruns that branch and the aggregate only
    model = next((iris_copy / "data" / "cache").glob("*_train_model_model.pkl"))
    model.unlink()
    # the compile step notices (Snakemake tracks completion markers, not the cache files)
    snakefile = run_cli("iris", "-p", "base", cwd=iris_copy).stdout
    dry = snakemake("-s", "/dev/stdin", "-n", cwd=iris_copy, stdin=snakefile)
    assert job_counts(dry.stdout) == {  # that set's chain is one job (automatic grouping)
        "all": 1,
        "cfcompile_results": 1,
        "compare_models": 1,
        "cfcompile_batch": 1,
    }


def test_output_file_dry_run_and_dag(project, tmp_path):
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", "-o", "Snakefile", "--batch", "1", cwd=root, env=env)
    dry = snakemake("-n", cwd=root)
    expected = {"all": 1, "cfcompile_results": 1, "first": 3, "second": 3, "total": 1}
    assert job_counts(dry.stdout) == expected
    dag = snakemake("--dag", cwd=root).stdout
    # first->second (3), second->total (3), every node -> all and -> results (7 + 7),
    # results -> all (1)
    assert dag.count("->") == 3 + 3 + 7 + 7 + 1 and "digraph" in dag
    snakefile = run_cli("chain", "-p", "few", cwd=root, env=env).stdout
    assert "digraph" in snakemake("-s", "/dev/stdin", "--dag", cwd=root, stdin=snakefile).stdout
    snakemake("--cores", "2", cwd=root)
    assert len((tmp_path / "log").read_text().splitlines()) == 7
    total = next((root / "data" / "cache").glob("chain_*_total_total.json"))
    assert json.loads(total.read_text()) == 33


def test_injection_in_parameter_names_values_and_paths_is_inert(project, tmp_path):
    evil = 'x"; import os; os.system("touch PWNED") #'
    files = dict(CHAIN)
    files["params/evil.py"] = f"""
        from params import Params

        def get_params():
            return [Params(name={evil!r}, x=2), Params(name="{{{{wild}}}}'$(touch PWNED2)", x=3)]
    """
    root = project(files)
    cache = tmp_path / "we ird'\"$(touch PWNED3)`touch PWNED4`"
    compile_and_run(root, "chain", "-p", "evil", "--cache-path", str(cache), "--prefix", "p';$x")
    for bad in ("PWNED", "PWNED2", "PWNED3", "PWNED4"):
        assert not list(tmp_path.rglob(bad)) and not list(Path.cwd().glob(bad)), bad
    assert not (root / "PWNED").exists()
    totals = list(cache.glob("p';$x_*_total_total.json"))
    assert len(totals) == 1 and json.loads(totals[0].read_text()) == 20 + 2 + 30 + 3
    lines = (tmp_path / "log").read_text().splitlines()
    assert f"first {evil}" in lines
    # braces cannot be expressed in Snakemake patterns: refused up front, with the reason
    proc = run_cli("chain", "-p", "evil", "--prefix", "p{x}", cwd=root, check=False)
    assert proc.returncode == 2 and "Snakemake reads as a wildcard" in proc.stderr


def test_job_runtime_imports_no_compile_time_modules(project, tmp_path):
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", cwd=root, env=env)
    workdir = root / ".cfcompile" / "chain"
    workdir = workdir / "v" / (workdir / "current").read_text().strip()
    h = json.loads((workdir / "workflow.json").read_text())["param_sets"][0][1]
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['job', {str(workdir)!r}, '--stage', 'first', '--hash', {h!r}]\n"
        "from cfcompile import job\n"
        "code = job.main(sys.argv[1:])\n"
        "bad = ('snakemake', 'networkx', 'jinja2', 'yaml', 'submitit', 'rich', 'pyarrow',\n"
        "       'cfcompile.compiler', 'cfcompile.backends', 'cfcompile.views',\n"
        "       'cfcompile.driver', 'cfcompile.cli', 'cfcompile.project.discover')\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if any(m == b or m.startswith(b + '.') for b in bad))\n"
        "print('EXIT', code, 'HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    ).stdout
    assert "EXIT 0 HEAVY []" in out, out
    assert (tmp_path / "log").read_text() == "first s0\n"


def test_changed_parameters_ask_for_recompile(project, tmp_path):
    root = project(CHAIN)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    snakefile = run_cli("chain", "-p", "few", cwd=root, env=env).stdout
    few = root / "params" / "few.py"
    few.write_text(few.read_text().replace("x=i", "x=i + 100"))
    proc = snakemake("-s", "/dev/stdin", "--cores", "1", cwd=root, stdin=snakefile, check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (root / ".cfcompile" / "chain" / "logs").rglob("*.log"))
    assert "recompile" in logs and "was compiled with hash" in logs and "now hashes to" in logs
    assert not list((root / "data" / "cache").glob("*_first_a.json"))


CURIFACTORY_STYLE = {
    "params/__init__.py": """
        from dataclasses import dataclass
        import curifactory as cf

        @dataclass
        class Params(cf.ExperimentParameters):
            x: int = 1
    """,
    "params/few.py": CHAIN["params/few.py"],
    "experiments/legacy.py": """
        import curifactory as cf
        from curifactory.caching import JsonCacher, PickleCacher
        from curifactory.reporting import JsonReporter

        @cf.stage(outputs=["a"], cachers=[PickleCacher])
        def first(record):
            record.report(JsonReporter({"x": record.params.x}))
            return record.params.x

        @cf.aggregate(inputs=["a"], outputs=["total"], cachers=[JsonCacher])
        def total(record, records, a):
            return sum(a.values())

        def run(param_sets, manager):
            for p in param_sets:
                first(cf.Record(manager, p))
            total(cf.Record(manager, None))
    """,
}


def test_curifactory_experiment_compiles_and_runs_unmodified(project):
    root = project(CURIFACTORY_STYLE)
    compile_and_run(root, "legacy", "-p", "few")
    total = next((root / "data" / "cache").glob("legacy_*_total_total.json"))
    assert json.loads(total.read_text()) == 0 + 1 + 2
    assert list((root / "data" / "cache").glob("legacy_*_first_reportables_file_list.json"))


def test_batching_runs_k_sets_per_job_with_the_same_results(project, tmp_path):
    root = project(CHAIN)
    log = tmp_path / "log"
    snakefile = run_cli("chain", "-p", "few", "--batch", "2", cwd=root).stdout
    dry = snakemake("-s", "/dev/stdin", "-n", cwd=root, stdin=snakefile)
    assert job_counts(dry.stdout) == {
        "all": 1,
        "cfcompile_batch": 2,  # sets s0+s1, then s2; one marker each
        "cfcompile_results": 1,
        "total": 1,
    }
    snakemake("-s", "/dev/stdin", "--cores", "2", cwd=root, stdin=snakefile)
    assert len(log.read_text().splitlines()) == 7
    cache = root / "data" / "cache"
    total = next(cache.glob("chain_*_total_total.json"))
    assert json.loads(total.read_text()) == 33
    again = snakemake("-s", "/dev/stdin", "--cores", "2", cwd=root, stdin=snakefile)
    assert "Nothing to be done" in again.stdout + again.stderr

    # one deleted file: the recompile drops that batch's marker; only that set's chain reruns
    log.unlink()
    h1 = compiled_info(root, "chain")["param_sets"][1][1]
    (cache / f"chain_{h1}_second_b.json").unlink()
    snakefile = run_cli("chain", "-p", "few", "--batch", "2", cwd=root).stdout
    dry = snakemake("-s", "/dev/stdin", "-n", cwd=root, stdin=snakefile)
    assert job_counts(dry.stdout) == {
        "all": 1,
        "cfcompile_batch": 1,
        "cfcompile_results": 1,
        "total": 1,
    }
    snakemake("-s", "/dev/stdin", "--cores", "2", cwd=root, stdin=snakefile)
    assert log.read_text().splitlines() == ["second s1", "total"]
    assert json.loads(total.read_text()) == 33


def test_failing_node_keeps_going_and_leaves_no_cache(project, tmp_path):
    files = dict(CHAIN)
    files["experiments/chain.py"] = CHAIN["experiments/chain.py"].replace(
        '_log(f"second {record.params.name}")',
        '_log(f"second {record.params.name}")\n    assert record.params.x != 1, "boom"',
    )
    root = project(files)
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    snakefile = run_cli("chain", "-p", "few", cwd=root, env=env).stdout
    proc = snakemake(
        "-s", "/dev/stdin", "--cores", "2", "--keep-going", cwd=root, stdin=snakefile, check=False
    )
    assert proc.returncode != 0
    cache = root / "data" / "cache"
    assert len(list(cache.glob("chain_*_second_b.json"))) == 2
    assert not [p for p in cache.iterdir() if p.name.startswith(".cfcompile-tmp")]
    assert not list(cache.glob("chain_*_total_total.json"))
