"""``--status`` (``views.status``): each node's state from the cache, the backends' jobs, the
failure records and the workflow folder, and the tables printed from them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from helpers import trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.compiler.plan import plan
from cfcompile.core.workdir import log_path, record_failure
from cfcompile.views import status
from cfcompile.views.status import NodeState


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


@cf.stage(outputs=["a"], cachers=[JsonCacher])
def load(record):
    return record.params.x


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher])
def fit(record, a):
    return a


def run(sets, manager):
    for p in sets:
        fit(load(cf.Record(manager, p)))


def statuses(tmp_path):
    """s0's load failed, s1's load runs as a Slurm job, s2's load started and was stopped."""
    sg, _ = trace_graph(run, [P(name=f"s{i}", x=i) for i in range(3)], tmp_path)
    workdir = sg.info.workdir
    ids = {(n.stage, n.label): n.id for n in sg.nodes()}
    record_failure(workdir, ids["load", "s0"], ValueError("bad x"), 0.0, timed_out=False)
    jobs = {ids["load", "s1"]: {"job_id": "7_1", "state": "running", "log": "l"}}
    log = log_path(workdir, ids["load", "s2"], None)
    os.makedirs(os.path.dirname(log), exist_ok=True)
    open(log, "w").close()  # its job started after the compile, and left nothing
    return sg, ids, status.node_status(sg, plan(sg), workdir, jobs)


def test_each_node_gets_the_state_that_its_records_say(tmp_path):
    sg, ids, found = statuses(tmp_path)
    state = {key: found[nid]["status"] for key, nid in ids.items()}
    assert state == {
        ("load", "s0"): NodeState.FAILED,
        ("fit", "s0"): NodeState.BLOCKED,
        ("load", "s1"): NodeState.RUNNING,
        ("fit", "s1"): NodeState.NOT_RUN,
        ("load", "s2"): NodeState.INTERRUPTED,
        ("fit", "s2"): NodeState.NOT_RUN,
    }
    assert found[ids["load", "s0"]]["message"] == "ValueError: bad x"
    assert found[ids["fit", "s0"]]["blocked_by"] == ids["load", "s0"]
    assert found[ids["load", "s1"]]["job_id"] == "7_1"
    assert status.exit_code(found) == 1  # a failure: scripts can tell


def test_the_printed_status_counts_per_stage_and_lists_failures_first(tmp_path, capsys):
    sg, _, found = statuses(tmp_path)
    assert status.print_status(found, sg) == 1
    out = capsys.readouterr().out
    assert out.index("load") < out.index("fit")  # stages in the experiment's order
    assert "totals: blocked 1, failed 1, interrupted 1, not run 2, running 1" in out
    assert "failed or timed out: 1" in out and "blocks 1 downstream node(s)" in out
    assert "1 interrupted:" in out and "1 blocked: downstream of a failed" in out
    assert status.print_status(found, sg, failed_only=True) == 1
    only = capsys.readouterr().out
    assert "ValueError: bad x" in only and "totals" not in only


def test_labels_and_last_lines():
    assert status.last_line("Traceback (most recent call last):\n  ...\nValueError: x") == (
        "ValueError: x"
    )
    assert status.last_line(None) == "(no message recorded)"
    assert status.label({"status": "unknown", "slurm_state": "BOOT_FAIL"}) == "unknown (BOOT_FAIL)"
    assert status.label({"status": "cancelled"}).startswith("cancelled (upstream failed")
    assert status.exit_code({("a", "1"): {"status": NodeState.DONE}}) == 0
