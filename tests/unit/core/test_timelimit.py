"""A stage's time limit (``core.timelimit``): ``StageTimeout`` raised in a body past its limit,
even one that swallows it, and the alarm it borrowed given back."""

from __future__ import annotations

import signal
import time

import pytest

from cfcompile.core.timelimit import StageTimeout, call_with_timeout, timed_call


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def test_a_body_past_its_limit_raises_stage_timeout_naming_it():
    started = time.monotonic()
    with pytest.raises(StageTimeout, match=r"stage 'fit' \[a\] exceeded its time limit of 0.2 s"):
        call_with_timeout(0.2, lambda: spin(5), "stage 'fit' [a]")
    assert time.monotonic() - started < 2  # raised at the limit, not when the body ended
    assert not issubclass(StageTimeout, Exception)  # a researcher's except Exception misses it


def test_a_body_that_swallows_the_timeout_still_fails_with_it():
    def stubborn():
        for _ in range(3):
            try:
                spin(5)
            except StageTimeout:
                pass  # what a "skip the bad sample" loop does
        return "late"

    with pytest.raises(StageTimeout, match="still running"):
        call_with_timeout(0.2, stubborn, "stage 'slow'")


def test_a_body_within_its_limit_returns_and_the_previous_alarm_comes_back():
    seen = []

    def previous(signum, frame):
        seen.append(signum)

    before = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's own alarm, if it set one
    old = signal.signal(signal.SIGALRM, previous)
    try:
        assert call_with_timeout(5, lambda: "done", "stage 'quick'") == "done"
        assert signal.getsignal(signal.SIGALRM) is previous
        after = signal.getitimer(signal.ITIMER_REAL)
        assert (after[0] > 0) == (before[0] > 0) and after[0] <= before[0]  # its rest, not ours
    finally:
        signal.signal(signal.SIGALRM, old)
    assert call_with_timeout(None, lambda: 7, "no limit") == 7
    assert seen == []


def test_timed_call_returns_the_result_and_its_timing():
    result, timing = timed_call(5, lambda: spin(0.05), "stage 'timed'")
    assert result == "finished"
    assert timing["end"] >= timing["start"] and 0.04 <= timing["seconds"] < 5
    assert timing["cpu_seconds"] > 0  # the body spun on the CPU
