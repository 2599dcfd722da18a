"""Long stages on Slurm, the submitting side: every task asks for the warning signal, the
site's checkpoint settings are checked, and the retry job resumes a checkpointing node with
the same time instead of doubling it (``backends.slurm``, ``runtime.requeue``)."""

from __future__ import annotations

import pytest

from cfcompile.backends.slurm import arrays, retry
from cfcompile.backends.slurm.requests import ArrayKind, Request
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.errors import CfcompileError
from cfcompile.runtime.requeue import grace_seconds


def test_the_grace_is_the_setting_but_never_more_than_a_quarter_of_the_limit():
    assert grace_seconds(None, 24 * 60) == 120  # the default
    assert grace_seconds(300, 24 * 60) == 300
    assert grace_seconds(None, 2) == 30  # a 2-minute task: warned 30 s ahead
    assert grace_seconds(120, 0.01) == 1


def test_every_task_asks_for_the_signal_and_carries_the_settings():
    req = Request(0, 0, ArrayKind.CHAINS, [[("s", "1")]], ["s"], 2, None, 1, 0)
    site = SiteSettings(checkpoint_every_seconds=10, checkpoint_max_requeues=3)
    params = arrays.executor_parameters(req, site, "cf-x-L0-chains", None)
    assert params["slurm_signal_delay_s"] == 30
    assert arrays.long_stages(req, site) == {"grace_s": 30, "max_requeues": 3, "every_s": 10.0}


def test_the_script_submitit_writes_has_the_signal_line(tmp_path):
    from submitit.slurm.slurm import _make_sbatch_string

    text = _make_sbatch_string("python x", str(tmp_path), time=2, signal_delay_s=30)
    assert "#SBATCH --signal=USR2@30" in text.splitlines()


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"sbatch_extra": ["--signal=B:USR1@60"]}, "sets what cfcompile sets itself"),
        ({"checkpoint_max_requeues": -1}, "checkpoint_max_requeues must be 0 or more"),
        ({"checkpoint_every_seconds": 0}, "checkpoint_every_seconds must be a number above 0"),
        ({"checkpoint_signal_seconds": "2; rm"}, "checkpoint_signal_seconds must be a number"),
    ],
)
def test_checkpoint_settings_are_checked(settings, why):
    with pytest.raises(CfcompileError, match=why):
        SiteSettings(**settings).check()


def arrays_for_retry() -> list[dict]:
    """One array of two tasks, both out of time (one checkpoints), and one after it."""
    request = {"time_min": 2, "mem_mb": 1000, "cpus": 1, "gpus": 0}
    return [
        {"array": "5", "kind": "chains", "level": 0, "stages": ["slow"], "request": request,
         "tasks": [{"job_id": "5_0", "nodes": [["slow", "a"]]},
                   {"job_id": "5_1", "nodes": [["slow", "b"]]}]},
        {"array": "6", "kind": "chains", "level": 1, "stages": ["after"], "request": request,
         "tasks": [{"job_id": "6_0", "nodes": [["after", "a"]]},
                   {"job_id": "6_1", "nodes": [["after", "b"]]}]},
    ]  # fmt: skip


UPSTREAM = {("after", "a"): [("slow", "a")], ("after", "b"): [("slow", "b")]}


def test_a_timeout_of_a_checkpointing_node_is_resubmitted_with_the_same_time():
    states = {"5_0": {"state": "TIMEOUT"}, "5_1": {"state": "TIMEOUT"},
              "6_0": {"state": "CANCELLED"}, "6_1": {"state": "CANCELLED"}}  # fmt: skip
    planned = retry.plan_retry(
        arrays_for_retry(), states, lambda n: False, lambda n: UPSTREAM.get(n, []),
        checkpointed=lambda n: n == ("slow", "a"),
    )  # fmt: skip
    by_what = {info["what"]: r.time_min for r, info in planned}
    assert (
        by_what["after TIMEOUT (checkpointed), the same time: it resumes from its checkpoint"] == 2
    )
    assert by_what["after TIMEOUT, twice the time (2 -> 4 min)"] == 4
