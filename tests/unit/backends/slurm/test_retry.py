"""The retry job: what a limit killed, resubmitted with twice as much
(``backends.slurm.retry``)."""

from __future__ import annotations

from cfcompile.backends.slurm import retry, usage


def arrays_for_retry():
    """A chain array (two tasks: one ran out of time, one finished) and the array after it."""
    return [
        {
            "array": "5",
            "kind": "chains",
            "level": 0,
            "stages": ["slow"],
            "request": {"time_min": 2, "mem_mb": 1000, "cpus": 1, "gpus": 0},
            "tasks": [
                {"job_id": "5_0", "nodes": [["slow", "a"]]},
                {"job_id": "5_1", "nodes": [["slow", "b"]]},
            ],
        },
        {
            "array": "6",
            "kind": "chains",
            "level": 1,
            "stages": ["after"],
            "request": {"time_min": 3, "mem_mb": None, "cpus": 1, "gpus": 0},
            "tasks": [
                {"job_id": "6_0", "nodes": [["after", "a"]]},
                {"job_id": "6_1", "nodes": [["after", "b"]]},
            ],
        },
    ]


UPSTREAM = {("after", "a"): [("slow", "a")], ("after", "b"): [("slow", "b")]}


def test_a_timeout_is_retried_with_twice_the_time_and_its_dependents_follow():
    states = {
        "5_0": {"state": "TIMEOUT"},
        "5_1": {"state": "COMPLETED"},
        "6_0": {"state": "CANCELLED"},
        "6_1": {"state": "COMPLETED"},
    }
    done = {("slow", "b"), ("after", "b")}
    planned = retry.plan_retry(
        arrays_for_retry(), states, lambda n: n in done, lambda n: UPSTREAM.get(n, [])
    )
    assert [(r.tasks, r.time_min, r.after_ok) for r, _ in planned] == [
        ([[("slow", "a")]], 4, []),
        ([[("after", "a")]], 3, [0]),
    ]
    first, second = (info for _, info in planned)
    assert first["what"] == "after TIMEOUT, twice the time (2 -> 4 min)"
    assert second["what"] == "downstream of a retried task"


def test_an_out_of_memory_task_gets_twice_its_memory_and_a_plain_failure_nothing():
    arrays = arrays_for_retry()[:1]
    oom = usage.parse_usage("5_0|OUT_OF_MEMORY|00:01:00|00:00:59||1000M|00:02:00\n")
    planned = retry.plan_retry(arrays, oom, lambda n: False, lambda n: [])
    assert [(r.mem_mb, r.time_min) for r, _ in planned] == [(2000, 2)]
    failed = {"5_0": {"state": "FAILED"}, "5_1": {"state": "FAILED"}}
    assert retry.plan_retry(arrays, failed, lambda n: False, lambda n: []) == []
