"""What a researcher sees: one line per job in the documented pipe, a failure summary at its
end, and ``--status`` as a table per stage with the failures, through the real CLI and the real
Snakemake.

``print_status``'s exit code and ``failed_only`` are called in a subprocess (a fresh
interpreter per project, as the CLI would) until the CLI has a ``--failed`` flag.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CHAIN, pipe, run_cli

from cfcompile.backends.snakemake.launch import logger_args
from cfcompile.views.status import MAX_ROWS, print_status

FAILING = CHAIN["experiments/chain.py"].replace(
    '_log(f"second {record.params.name}")',
    '_log(f"second {record.params.name}")\n    assert record.params.x != 1, "boom"',
)

ODD_NAMES = """
    from params import Params


    def get_params():
        return [
            Params(name="a{wildcards.hash}", x=10),
            Params(name="b'\\"]; import os #", x=11),
            Params(name="c\\x1b[31mred", x=12),
        ]
"""


def job_lines(stderr: str) -> list[str]:
    """The progress lines: ``[HH:MM:SS] LABEL``, timestamps cut off."""
    return [ln[11:] for ln in stderr.splitlines() if ln[:1] == "[" and ln[9:11] == "] "]


STATUS = """
import sys
from cfcompile.backends import all_backends
from cfcompile.cli.options import build_parser
from cfcompile.cli.parsed import selection
from cfcompile.driver import build
from cfcompile.views.status import node_status, print_status

args = build_parser().parse_args(sys.argv[2:])
built = build(selection(args))
jobs = {}
for backend in all_backends():
    jobs.update(backend.states(built.workdir))
statuses = node_status(built.sg, built.plans, built.workdir, jobs)
code = print_status(statuses, built.sg, failed_only=sys.argv[1] == "failed")
if sys.argv[1] != "failed":
    from cfcompile.cli.view_modes import last_run_line

    print(last_run_line(built.workdir))
sys.exit(code)
"""


def status(root: Path, *args: str, failed_only: bool = False) -> subprocess.CompletedProcess:
    """``views.status`` as ``cli.view_modes.cmd_status`` calls it, in a fresh interpreter."""
    mode = "failed" if failed_only else "all"
    return subprocess.run(
        [sys.executable, "-c", STATUS, mode, *args, "--status"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def chain_log(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))


def test_pipe_prints_one_line_per_job_and_no_file_lists(project, chain_log):
    root = project({**CHAIN, "params/odd.py": ODD_NAMES})
    proc = pipe(root, "chain", "-p", "few", "--batch", "1", cores="2")
    assert proc.returncode == 0, proc.stderr
    lines = job_lines(proc.stderr)
    for name in ("s0", "s1", "s2"):
        assert lines.count(f"first [{name}]") == 1, proc.stderr
        assert lines.count(f"second [{name}]") == 1, proc.stderr
    assert sum(ln.startswith("total [aggregate ") for ln in lines) == 1
    assert "results table" in lines and "all nodes" in lines
    assert len(lines) == 9  # 7 nodes, the results table, all
    workdir = str(root / ".cfcompile" / "chain")
    for noise in (f"{workdir}/done/", "output:", "input:", "Reason", "Finished jobid"):
        assert noise not in proc.stderr, noise
    assert "cfcompile: done; results table: " in proc.stderr
    # progress with counts per stage and, once a job is done, the time left
    progress = [ln for ln in proc.stderr.splitlines() if " jobs (" in ln and ") done" in ln]
    assert progress and progress[-1].startswith("9 of 9 jobs (100%) done; first ")
    assert any(", about " in ln and " left; " in ln for ln in progress[:-1]), progress

    batched = pipe(root, "chain", "-p", "few", "--batch", "2", "--overwrite", cores="2")
    assert batched.returncode == 0, batched.stderr
    lines = job_lines(batched.stderr)
    assert "first, second [2 parameter sets: s0, s1]" in lines
    assert "first, second [s2]" in lines

    # parameter-set names are data: in the progress lines, never in the Snakefile
    odd = pipe(root, "chain", "-p", "odd", "--batch", "1", cores="2")
    assert odd.returncode == 0, odd.stderr
    lines = job_lines(odd.stderr)
    assert "first [a{wildcards.hash}]" in lines
    assert "second [b'\"]; import os #]" in lines
    assert "first [c?[31mred]" in lines  # no terminal escape sequence reaches the terminal
    snakefile = (root / ".cfcompile" / "chain" / "Snakefile").read_text()
    assert "a{wildcards" not in snakefile and "import os #" not in snakefile


def test_failing_stage_is_summarised_at_the_end(project, chain_log):
    root = project({**CHAIN, "experiments/chain.py": FAILING})
    proc = pipe(root, "chain", "-p", "few", "--batch", "1", snakemake_args=("-k",), cores="2")
    assert proc.returncode != 0
    err = proc.stderr
    summary = err[err.index("cfcompile: 1 node(s) failed in this run") :]
    assert summary.index("Every node's state") > 0
    assert "  second [s1]: AssertionError: boom\n" in summary
    log = summary.split("log: ", 1)[1].splitlines()[0]
    assert log.endswith(".log") and "/logs/second/" in log
    assert "boom" in Path(log).read_text()
    assert f"failed: second [s1] (log: {log})" in err  # the moment it failed, one line
    assert "CalledProcessError" not in err and "client.py" not in err  # no shell command dump
    assert err.index("failed: second [s1]") < err.index("cfcompile: 1 node(s) failed")


def test_status_summary_blocked_failed_only_and_exit_code(project, chain_log):
    root = project({**CHAIN, "experiments/chain.py": FAILING})
    pipe(root, "chain", "-p", "few", "--batch", "2", snakemake_args=("-k",), cores="2")

    shown = run_cli("chain", "-p", "few", "--status", cwd=root, check=False).stdout  # exits 1
    rows = {ln.split()[0]: ln.split()[1:] for ln in shown.splitlines()[:4]}
    assert rows["stage"] == ["nodes", "done", "failed", "blocked"], shown
    assert rows["first"] == ["3", "3", "0", "0"] and rows["second"] == ["3", "2", "1", "0"]
    assert rows["total"] == ["1", "0", "0", "1"]
    assert "totals: blocked 1, done 5, failed 1" in shown
    failed = [ln for ln in shown.splitlines() if ln.split()[:3] == ["second", "s1", "failed"]]
    assert len(failed) == 1 and failed[0].split()[-1].endswith("/logs/batches/0.log"), shown
    after = shown.split(failed[0] + "\n", 1)[1].splitlines()
    assert after[0].strip() == "AssertionError: boom"
    assert after[1].strip() == "blocks 1 downstream node(s)"
    assert not [
        ln for ln in shown.splitlines() if ln.split()[:2] == ["first", "s0"]
    ]  # no done rows

    default = status(root, "chain", "-p", "few")
    assert default.returncode == 1 and default.stdout == shown
    only = status(root, "chain", "-p", "few", failed_only=True)
    assert only.returncode == 1
    lines = [ln for ln in only.stdout.splitlines() if ln.strip()]
    assert len(lines) == 4 and lines[1] == failed[0], only.stdout  # title, row, error, blocks
    assert "totals" not in only.stdout and "blocked:" not in only.stdout

    (root / "experiments" / "chain.py").write_text(
        (root / "experiments" / "chain.py").read_text().replace('"boom"', '"fixed"')
        .replace("record.params.x != 1", "True")
    )  # fmt: skip
    # with the warm worker: one that sees the edited file leaves, and a job asking it at that
    # moment runs in process (client.ask treats the reset as end of file)
    rerun = pipe(root, "chain", "-p", "few", "--batch", "2", cores="2")
    assert rerun.returncode == 0, rerun.stderr
    fixed = status(root, "chain", "-p", "few")
    assert fixed.returncode == 0 and "totals: done 7" in fixed.stdout
    assert "failed" not in fixed.stdout and "blocked" not in fixed.stdout
    only = status(root, "chain", "-p", "few", failed_only=True)
    assert only.returncode == 0 and only.stdout.strip() == "no failed or timed-out nodes"


SLOW = {
    **CHAIN,
    "experiments/slow.py": """
        import time
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        @cf.stage(outputs=["score"], cachers=[JsonCacher])
        def work(record):
            if record.params.x == 2:
                time.sleep(60)
            return record.params.x

        @cf.stage(inputs=["score"], outputs=["done"], cachers=[JsonCacher])
        def after(record, score):
            return score

        def run(param_sets, manager):
            for p in param_sets:
                after(work(cf.Record(manager, p)))
    """,
}


def test_status_running_then_interrupted_after_a_kill(project):
    """A job killed outright (no worker to record it) is interrupted, not "not run"."""
    root = project(SLOW)
    run_cli("slow", "-p", "few", "--batch", "1", "-o", "Snakefile", cwd=root)
    workdir = root / ".cfcompile" / "slow"
    version = workdir / "v" / (workdir / "current").read_text().strip()
    names = json.loads((version / "manifest.json").read_text())["names"]
    slow_hash = next(h for h, name in names.items() if name == "s2")
    log = workdir / "logs" / "work" / f"{slow_hash}.log"
    runner = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "-s", "Snakefile", "--cores", "2"],
        cwd=root,
        env={**os.environ, "CFCOMPILE_WORKER": "0"},  # the job is Snakemake's own child
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # s2's stage sleeps; the other four nodes finish
            markers = [p for p in (workdir / "done").rglob("*") if p.is_file()]
            if len(markers) == 4 and log.exists() and "running" in log.read_text():
                break
            time.sleep(0.2)
        during = run_cli("slow", "-p", "few", "--status", cwd=root).stdout
        assert "totals: done 4, queued 1, running 1" in during, during
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)
    shown = status(root, "slow", "-p", "few")
    assert shown.returncode == 0, shown.stdout  # nothing failed
    assert "totals: done 4, interrupted 1, not run 1" in shown.stdout
    assert "1 interrupted: its job started after the last compile" in shown.stdout
    row = next(ln for ln in shown.stdout.splitlines() if ln.split()[:2] == ["work", "s2"])
    assert row.split()[-1] == str(log)


def test_failure_rows_are_capped_unless_only_failures_are_asked(capsys):
    statuses = {
        ("train", f"{i:032x}"): {
            "stage": "train",
            "params": f"p{i}",
            "hash": f"{i:032x}",
            "status": "failed",
            "log": f"/logs/train/{i}.log",
            "message": "Traceback\nValueError: bad [red]value[/red]",
        }
        for i in range(MAX_ROWS + 10)
    }
    statuses[("train", "done")] = {"stage": "train", "params": "ok", "hash": "d", "status": "done"}
    assert print_status(statuses) == 1
    out = capsys.readouterr().out
    assert sum(ln.split()[:1] == ["train"] and "failed" in ln for ln in out.splitlines()) == 50
    assert "... 10 more (--status --failed lists them all)" in out
    assert "ValueError: bad [red]value[/red]" in out  # the message as text, never as markup
    assert "Traceback" not in out  # the exception's last line only
    assert print_status(statuses, failed_only=True) == 1
    assert capsys.readouterr().out.count("ValueError") == MAX_ROWS + 10


def test_run_asks_for_our_logger_else_rich_only_on_a_terminal():
    import importlib.util

    ours = importlib.util.find_spec("snakemake_logger_plugin_cfcompile") is not None
    rich = importlib.util.find_spec("snakemake_logger_plugin_rich") is not None
    assert logger_args(["--logger", "other"], interactive=True) == []
    assert logger_args(["--logger=other"], interactive=True) == []
    if ours:  # the README's install: ours, in a terminal or not
        assert logger_args([], interactive=False) == ["--logger", "cfcompile"]
    else:
        assert logger_args([], interactive=False) == []
        assert logger_args([], interactive=True) == (["--logger", "rich"] if rich else [])
