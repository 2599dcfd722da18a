"""cfcompile.backends.slurm.sacct from recorded sacct/squeue text: no cluster, no subprocess."""

from __future__ import annotations

import subprocess

import pytest

from cfcompile.backends.slurm import sacct as slurm_states
from cfcompile.backends.slurm.sacct import (
    classify,
    expand_array_id,
    parse_sacct,
    parse_squeue,
    query,
)

# `sacct -n -P -X -j 4101,4102,4103,4104,4105,4106 -o JobID,State` after one submission.
# 4101: a finished chains array with one task per outcome. 4102: an array with one task running
# and the rest pending and folded, at most 2 at a time. 4103: cancelled by root. 4104: killed
# by --kill-on-invalid-dep after its upstream failed. 4105: a very short job that sacct
# recorded with an empty State field (an empty column, like its empty Partition).
# 4106: a job that did not use an array.
SACCT_X = """\
4101_0|COMPLETED
4101_1|COMPLETED
4101_2|FAILED
4101_3|TIMEOUT
4101_4|OUT_OF_MEMORY
4102_[0-3,7%2]|PENDING
4102_4|RUNNING
4103|CANCELLED by 0
4104|CANCELLED by 1000
4105|
4106|COMPLETED
"""

# The same jobs without -X: sacct adds the steps (.batch, .extern, .0). A step's state is not
# the job's state: 4103's extern step COMPLETED although the job was cancelled.
SACCT_WITH_STEPS = """\
4101_2|FAILED
4101_2.batch|FAILED
4101_2.extern|COMPLETED
4101_2.0|OUT_OF_MEMORY
4103|CANCELLED by 0
4103.batch|CANCELLED
4103.extern|COMPLETED
"""

# sacct's folded form for a pending array whose tasks are 4-9, throttled with %2.
SACCT_FOLDED = "123_[4-9%2]|PENDING\n"

# `squeue -h -r -t all -j 4101,4102,4107 -o '%i|%T'`. -r prints one line per task, even for
# pending ones. 4101 is missing because it finished before MinJobAge, so squeue forgot it.
# 4107 was submitted seconds ago, and slurmdbd has no record of it yet.
SQUEUE_R = """\
4102_0|PENDING
4102_1|PENDING
4102_2|PENDING
4102_3|PENDING
4102_7|PENDING
4102_4|RUNNING
4107_0|PENDING
4107_1|CONFIGURING
"""


def test_sacct_array_tasks_each_have_their_own_state():
    states = parse_sacct(SACCT_X)
    assert states["4101_0"] == "COMPLETED"
    assert states["4101_2"] == "FAILED"
    assert states["4101_3"] == "TIMEOUT"
    assert states["4101_4"] == "OUT_OF_MEMORY"
    assert states["4102_4"] == "RUNNING"
    assert states["4106"] == "COMPLETED"


def test_sacct_folded_pending_tasks_are_expanded_and_throttle_ignored():
    states = parse_sacct(SACCT_X)
    assert {k: v for k, v in states.items() if k.startswith("4102_")} == {
        "4102_0": "PENDING",
        "4102_1": "PENDING",
        "4102_2": "PENDING",
        "4102_3": "PENDING",
        "4102_4": "RUNNING",
        "4102_7": "PENDING",
    }
    assert not any("[" in k or "%" in k for k in states)


def test_sacct_folded_range_with_throttle():
    assert parse_sacct(SACCT_FOLDED) == {f"123_{i}": "PENDING" for i in range(4, 10)}


def test_cancelled_by_uid_reduced_to_cancelled():
    states = parse_sacct(SACCT_X)
    assert states["4103"] == "CANCELLED"
    assert states["4104"] == "CANCELLED"


def test_empty_state_is_unknown():
    assert parse_sacct(SACCT_X)["4105"] == "UNKNOWN"


def test_exact_keys_of_recorded_sacct():
    expected = {f"4101_{i}" for i in range(5)}
    expected |= {f"4102_{i}" for i in (0, 1, 2, 3, 4, 7)}
    expected |= {"4103", "4104", "4105", "4106"}
    assert set(parse_sacct(SACCT_X)) == expected


def test_steps_are_ignored_and_do_not_override_the_job():
    states = parse_sacct(SACCT_WITH_STEPS)
    assert states == {"4101_2": "FAILED", "4103": "CANCELLED"}


def test_blank_lines_and_empty_text():
    assert parse_sacct("") == {}
    assert parse_sacct("\n\n") == {}
    assert parse_sacct("\n4106|COMPLETED\n\n") == {"4106": "COMPLETED"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # submitit warns on ids it can't read
def test_unreadable_id_is_dropped_and_the_rest_still_parsed():
    assert parse_sacct("4101_x|RUNNING\n4106|COMPLETED\n") == {"4106": "COMPLETED"}


def test_squeue_one_line_per_task_and_finished_jobs_absent():
    states = parse_squeue(SQUEUE_R)
    assert states["4102_4"] == "RUNNING"
    assert states["4102_7"] == "PENDING"
    assert states["4107_1"] == "CONFIGURING"
    assert not any(k.startswith("4101") for k in states)
    assert len(states) == 8


def test_squeue_folded_without_r_is_still_expanded():
    # Without -r, squeue folds pending tasks the same way sacct does.
    assert parse_squeue("4107_[2-4%1]|PENDING\n4107_1|RUNNING\n") == {
        "4107_1": "RUNNING",
        "4107_2": "PENDING",
        "4107_3": "PENDING",
        "4107_4": "PENDING",
    }


@pytest.mark.parametrize(
    ("jid", "expected"),
    [
        ("12_[0-2,5%4]", ["12_0", "12_1", "12_2", "12_5"]),
        ("123_[4-9%2]", [f"123_{i}" for i in range(4, 10)]),
        ("12_[3]", ["12_3"]),
        ("12_[10-11]", ["12_10", "12_11"]),
        ("12_3", ["12_3"]),
        ("12", ["12"]),
        (" 12_3\n", ["12_3"]),
    ],
)
def test_expand_array_id(jid, expected):
    assert expand_array_id(jid) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("PENDING", "queued"),
        ("REQUEUED", "queued"),
        ("CONFIGURING", "queued"),
        ("SUSPENDED", "queued"),
        ("RESIZING", "queued"),
        ("RUNNING", "running"),
        ("COMPLETING", "running"),
        ("STAGE_OUT", "running"),
        ("COMPLETED", "done"),
        ("TIMEOUT", "timed out"),
        ("FAILED", "failed"),
        ("OUT_OF_MEMORY", "failed"),
        ("NODE_FAIL", "failed"),
        ("BOOT_FAIL", "failed"),
        ("DEADLINE", "failed"),
        ("PREEMPTED", "failed"),
        ("CANCELLED", "cancelled"),
        ("CANCELLED by 0", "cancelled"),
        ("CANCELLED+", "cancelled"),
        ("UNKNOWN", "unknown"),
        ("", "unknown"),
        ("LOCAL", "unknown"),
        ("SPECIAL_EXIT", "unknown"),
    ],
)
def test_classify(state, expected):
    assert classify(state) == expected


def test_classify_recorded_sacct():
    classes = {jid: classify(s) for jid, s in parse_sacct(SACCT_X).items()}
    assert classes["4101_3"] == "timed out"
    assert classes["4101_4"] == "failed"
    assert classes["4102_0"] == "queued"
    assert classes["4103"] == "cancelled"
    assert classes["4105"] == "unknown"


# --- query: subprocess.run replaced by recorded output --------------------------------------


class FakeRun:
    """Stands in for subprocess.run: recorded stdout per tool, or an exception to raise."""

    def __init__(self, **outputs):
        self.outputs = outputs
        self.calls: list[tuple[list[str], float | None]] = []

    def __call__(self, cmd, capture_output=False, text=False, timeout=None):
        self.calls.append((list(cmd), timeout))
        out = self.outputs[cmd[0]]
        if isinstance(out, BaseException):
            raise out
        code, stdout = out if isinstance(out, tuple) else (0, out)
        return subprocess.CompletedProcess(cmd, code, stdout=stdout, stderr="")


def test_query_empty_runs_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("query([]) must not run sacct or squeue")

    monkeypatch.setattr(slurm_states.subprocess, "run", refuse)
    assert query([]) == {}


def test_query_sacct_wins_squeue_fills_gaps(monkeypatch):
    # squeue still says COMPLETING for a task that sacct already records as COMPLETED.
    fake = FakeRun(
        sacct="4102_4|COMPLETED\n4102_[0-3,7%2]|PENDING\n",
        squeue=SQUEUE_R.replace("4102_4|RUNNING", "4102_4|COMPLETING"),
    )
    monkeypatch.setattr(slurm_states.subprocess, "run", fake)
    states = query(["4102", "4107"])
    assert states["4102_4"] == "COMPLETED"
    assert states["4107_0"] == "PENDING"
    assert states["4107_1"] == "CONFIGURING"
    assert len(states) == 8
    (sacct_cmd, sacct_timeout), (squeue_cmd, squeue_timeout) = fake.calls
    assert sacct_cmd[0] == "sacct" and {"-n", "-P", "-X"} <= set(sacct_cmd)
    assert sacct_cmd[sacct_cmd.index("-j") + 1] == "4102,4107"
    assert squeue_cmd[0] == "squeue" and {"-h", "-r"} <= set(squeue_cmd)
    assert squeue_cmd[squeue_cmd.index("-j") + 1] == "4102,4107"
    assert sacct_timeout and squeue_timeout


@pytest.mark.parametrize(
    "failure",
    [FileNotFoundError("sacct"), subprocess.TimeoutExpired("sacct", 60), (1, "4101_0|FAILED\n")],
    ids=["missing", "timeout", "nonzero-exit"],
)
def test_query_sacct_unavailable_falls_back_to_squeue(monkeypatch, failure):
    monkeypatch.setattr(slurm_states.subprocess, "run", FakeRun(sacct=failure, squeue=SQUEUE_R))
    assert query(["4101", "4102", "4107"]) == parse_squeue(SQUEUE_R)


@pytest.mark.parametrize(
    "failure",
    [FileNotFoundError("squeue"), subprocess.TimeoutExpired("squeue", 60), (1, "")],
    ids=["missing", "timeout", "nonzero-exit"],
)
def test_query_squeue_unavailable_keeps_sacct(monkeypatch, failure):
    monkeypatch.setattr(slurm_states.subprocess, "run", FakeRun(sacct=SACCT_X, squeue=failure))
    assert query(["4101"]) == parse_sacct(SACCT_X)


def test_query_neither_tool_available(monkeypatch):
    fake = FakeRun(sacct=FileNotFoundError("sacct"), squeue=FileNotFoundError("squeue"))
    monkeypatch.setattr(slurm_states.subprocess, "run", fake)
    assert query(["4101"]) == {}
    assert [cmd[0] for cmd, _ in fake.calls] == ["sacct", "squeue"]
