"""What a researcher sees: why nodes run, the DAG picture, and the command line's own manners.

Everything goes through the real CLI in a fresh interpreter (``run_cli``), and compiled runs
through the real Snakemake, because what is tested here is what a person reads on a terminal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import CHAIN, SNAKEMAKE, run_cli

import cfcompile


@pytest.fixture
def chain(project, tmp_path, monkeypatch):
    """The CHAIN project; its stages log every execution to CHAIN_LOG."""
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    return project(CHAIN)


def log_lines(root: Path) -> list[str]:
    path = Path(os.environ["CHAIN_LOG"])
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def compile_and_run(
    root: Path, *cli: str, keep_going: bool = False, snakemake_args: tuple[str, ...] = ()
) -> None:
    snakefile = run_cli("chain", "-p", "few", "-q", *cli, cwd=root).stdout
    cmd = [*SNAKEMAKE, "-s", "/dev/stdin", "--cores", "2", "--quiet", "all", *snakemake_args]
    proc = subprocess.run(
        [*cmd, *(["-k"] if keep_going else [])],
        cwd=root,
        input=snakefile,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if not keep_going:
        assert proc.returncode == 0, proc.stderr[-3000:]


def dry_run(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("chain", "-p", "few", "--dry-run", *extra, cwd=root)


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new))


# -- why it runs ------------------------------------------------------------------------------
def test_changed_parameter_is_named_with_old_and_new_value(chain):
    run_cli("chain", "-p", "few", "--eager", cwd=chain)
    edit(chain, "params/few.py", "x=i)", "x=i + 100 * (i == 1))")  # s1: x 1 -> 101
    text = dry_run(chain).stdout
    assert "parameter set s1: parameters changed since its cache was written: x: 1 -> 101" in text
    assert "parameters changed since the cache was written: 1 (s1)" in text  # the why column
    summary = json.loads(dry_run(chain, "--json").stdout)
    first = {n["params"]: n for n in summary["nodes"] if n["stage"] == "first"}
    assert first["s1"]["reason"] == "parameters changed since the cache was written"
    assert first["s1"]["detail"].startswith("x: 1 -> 101 (hash ")
    assert first["s0"]["status"] == first["s2"]["status"] == "cached"
    assert summary["changed_params"].keys() == {"s1"}


def test_a_new_set_without_an_old_cache_stays_output_missing(chain):
    run_cli("chain", "-p", "few", "--eager", cwd=chain)
    summary = json.loads(run_cli("chain", "-p", "more", "--dry-run", "--json", cwd=chain).stdout)
    first = next(n for n in summary["nodes"] if n["stage"] == "first")
    assert (first["reason"], first["detail"]) == ("output missing", None)
    assert summary["changed_params"] == {}


MTIME_ONLY: tuple[str, ...] = ()
"""Snakemake's default rerun triggers: job commands name only the workflow folder, so an edit
of the experiment file does not rerun every job (it did while they named the version)."""


def test_edited_stage_is_reported_and_reruns_only_when_asked(chain):
    compile_and_run(chain, "--batch", "3", snakemake_args=MTIME_ONLY)
    log_lines(chain)
    edit(chain, "experiments/chain.py", "return a + len(big)", "return len(big) + a")
    text = dry_run(chain).stdout
    assert "code of stage second changed since its cache was written (3 of 3" in text
    assert "--rerun-changed-code reruns them" in text
    assert json.loads(dry_run(chain, "--json").stdout)["totals"]["run"] == 0
    # by default the cache stands, as in curifactory
    compile_and_run(chain, "--batch", "3", snakemake_args=MTIME_ONLY)
    assert log_lines(chain) == []
    flagged = json.loads(dry_run(chain, "--json", "--rerun-changed-code").stdout)
    why = {(n["stage"], n["params"]): n["reason"] for n in flagged["nodes"]}
    assert why[("second", "s1")] == "stage code changed"
    assert why[("first", "s1")] is None  # its own code did not change
    # a batch job skips members whose outputs exist unless forced: the flag must reach it
    compile_and_run(chain, "--batch", "3", "--rerun-changed-code", snakemake_args=MTIME_ONLY)
    assert sorted(log_lines(chain)) == ["second s0", "second s1", "second s2", "total"]
    after = dry_run(chain).stdout  # the jobs recorded the new code in the metadata
    assert "code of stage" not in after


def test_rerun_changed_code_is_refused_with_eager(chain):
    proc = run_cli("chain", "-p", "few", "--eager", "--rerun-changed-code", cwd=chain, check=False)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr


# -- the DAG ----------------------------------------------------------------------------------
def test_dag_has_legend_one_font_and_failed_nodes(chain):
    edit(
        chain,
        "experiments/chain.py",
        "    return a + len(big)",
        "    if record.params.x == 1:\n        raise ValueError('no')\n    return a + len(big)",
    )
    compile_and_run(chain, "--batch", "1", keep_going=True)
    dot = run_cli("chain", "-p", "few", "--dag", cwd=chain).stdout
    for kind in ("graph", "node", "edge"):
        assert re.search(rf'^  {kind} \[.*fontname="sans-serif"', dot, re.M), kind
    assert "cached</TD>" in dot and "to run</TD>" in dot and "failed</TD>" in dot
    second_s1 = next(ln for ln in dot.splitlines() if 'label="second\\ns1"' in ln)
    assert "#f4a6a6" in second_s1  # the failed colour of the legend
    second_s0 = next(ln for ln in dot.splitlines() if 'label="second\\ns0"' in ln)
    assert "#b4eeb4" in second_s0
    stages = run_cli("chain", "-p", "few", "--dag", "--dag-level", "stages", cwd=chain).stdout
    assert "3 node(s): 2 cached, 0 to run, 1 failed" in stages
    mermaid = run_cli("chain", "-p", "few", "--dag", "mermaid", cwd=chain).stdout
    assert 'subgraph legend ["legend"]' in mermaid and ":::failed" in mermaid


def test_full_dag_at_scale_is_refused_with_what_to_do(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    files = dict(CHAIN)
    files["params/wide.py"] = """
        from params import Params

        def get_params():
            return [Params(name=f"w{i}", x=i) for i in range(260)]
    """
    root = project(files)
    proc = run_cli(
        "chain", "-p", "wide", "--dag", "svg", "--dag-level", "full", cwd=root, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "521 nodes are too many" in proc.stderr
    assert "--dag-level stages" in proc.stderr and "--names" in proc.stderr
    assert not (root / ".cfcompile" / "chain" / "dag.svg").exists()
    few = run_cli(
        "chain", "-p", "wide", "--indices", "0-9", "--dag", "--dag-level", "full", cwd=root
    )
    assert few.stdout.count("fillcolor") == 21  # what the message suggests works


def test_svg_fits_its_page(chain):
    if not shutil.which("dot"):
        pytest.skip("Graphviz not installed (scripts/install-system-deps.sh)")
    run_cli("chain", "-p", "few", "--dag", "svg", "-o", "dag.svg", cwd=chain)
    svg = (chain / "dag.svg").read_text()
    tag = re.search(r"<svg\b[^>]*>", svg).group(0)
    assert 'width="100%"' in tag and "viewBox=" in tag
    assert "height=" not in tag and "pt" not in tag.replace("viewBox", "")
    fonts = set(re.findall(r'font-family="([^"]*)"', svg))
    assert fonts == {"sans-serif"}


def test_graphviz_warnings_reach_our_stderr(chain, tmp_path):
    """A stand-in ``dot`` first on PATH: what Graphviz says on stderr must be shown."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text(
        "#!/bin/sh\ncat >/dev/null\necho 'Warning: some label was too wide' >&2\n"
        'echo \'<svg width="10pt" height="5pt" viewBox="0 0 10 5"></svg>\'\n'
    )
    (fake / "dot").chmod(0o755)
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    proc = run_cli("chain", "-p", "few", "--dag", "svg", "-o", "d.svg", cwd=chain, env=env)
    assert "cfcompile: dot: Warning: some label was too wide" in proc.stderr
    assert (chain / "d.svg").read_text().startswith('<svg width="100%" viewBox="0 0 10 5">')


# -- the command line -------------------------------------------------------------------------
def test_version_and_help_without_arguments(tmp_path):
    version = run_cli("--version", cwd=tmp_path)
    assert version.stdout.strip() == f"cfcompile {cfcompile.__version__}"
    bare = run_cli(cwd=tmp_path, check=False)
    assert bare.returncode == 0 and bare.stderr == ""
    assert bare.stdout.startswith("usage: cfcompile EXPERIMENT") and "--dry-run" in bare.stdout


def test_misspellings_get_suggestions(chain):
    def error(*args: str) -> str:
        proc = run_cli(*args, cwd=chain, check=False)
        assert proc.returncode == 2, proc
        return proc.stderr

    assert "did you mean --dry-run?" in error("chain", "-p", "few", "--dryrun")
    assert "did you mean 'svg'?" in error("chain", "-p", "few", "--dag", "svgg")
    assert "did you mean 'chain'?" in error("chian", "-p", "few", "--dry-run")
    assert "-p fwe: did you mean 'few'?" in error("chain", "-p", "fwe", "--dry-run")
    assert "did you mean" not in error("zzzzzz", "-p", "few", "--dry-run")
    conflict = error("chain", "-p", "few", "--dag", "--dry-run")
    assert "--dag and --dry-run are two modes and exclude each other: pick one of" in conflict
    assert "--eager, --run, --submit" in conflict
    assert "--failed works with --status only" in error("chain", "-p", "few", "--failed")
    assert "--top works with --results only" in error("chain", "-p", "few", "--top", "3")


def test_ls_columns_line_up(project):
    files = dict(CHAIN)
    files["params/broken.py"] = "import no_such_module_here\n"
    files["experiments/norun.py"] = '"""Nothing to run."""\n'
    files["params/a_long_parameter_file.py"] = (
        '"""Long name."""\nfrom params import Params\n\n\ndef get_params():\n    return []\n'
    )
    root = project(files)
    out = run_cli("ls", cwd=root).stdout
    rows = [ln for ln in out.splitlines() if ln.startswith("  ") and ln.strip() != "(none)"]
    parsed = {ln.split()[0]: ln for ln in rows}
    assert set(parsed) >= {"chain", "norun", "few", "more", "broken", "a_long_parameter_file"}
    status_at = {
        ln.index(status)
        for ln, status in (
            (parsed["chain"], "ok"),
            (parsed["norun"], "no run()"),
            (parsed["broken"], "import error"),
            (parsed["a_long_parameter_file"], "ok"),
        )
    }
    assert len(status_at) == 1, out
    text_at = {
        parsed["chain"].index("A two-stage chain"),
        parsed["norun"].index("Nothing to run."),
        parsed["broken"].index("ModuleNotFoundError"),
        parsed["few"].index("Three small sets."),
    }
    assert len(text_at) == 1, out
