"""A stage's time limit: ``StageTimeout`` raised in it, repeated, then the process ended.

The eager runner and the job runtime both call a stage body through ``timed_call``; only the
job runtime asks for the hard limit (``on_hard_timeout``), since ending the process would end
a researcher's notebook kernel.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

HARD_GRACE = 5.0
"""Seconds a stage may keep running past its time limit (swallowing every StageTimeout) before
the job runtime ends the process: long enough for ``finally`` blocks and a clean unwind, short
next to the scheduler's own limit (timeout rounded up to minutes, plus a minute)."""

REPEAT_EVERY = 1.0
"""After the first StageTimeout, raise it again this often while the stage is still running."""

HARD_TIMEOUT_EXIT = 124
"""Exit status of a job process ended by the hard time limit (as coreutils ``timeout``)."""

log = logging.getLogger("cfcompile")


class StageTimeout(BaseException):
    """Raised inside a stage that ran past its ``timeout``.

    A BaseException (like KeyboardInterrupt), so that the ``except Exception`` of a retry loop
    or a "skip the bad sample" guard in the researcher's code cannot swallow it.
    """


# long: its three layers share one alarm state; split up, the restore order would be scattered
def call_with_timeout(
    seconds: float | None,
    fn: Callable[[], Any],
    what: str,
    on_hard_timeout: Callable[[StageTimeout], None] | None = None,
    grace: float = HARD_GRACE,
) -> Any:
    """Call ``fn`` on the main thread, raising StageTimeout in it once ``seconds`` have passed.

    Three layers, because a stage body may swallow what it is sent:

    1. SIGALRM raises StageTimeout (a BaseException) after ``seconds``, then again every
       REPEAT_EVERY seconds while ``fn`` still runs; a body that swallowed it and then returns
       or raises an ordinary error still fails with StageTimeout (a late result is no result,
       and the failure is reported as what it was: a timeout).
    2. With ``on_hard_timeout`` (the job runtime), a watchdog thread calls it ``grace``
       seconds after the limit if ``fn`` is still running (so the job can write its failure
       record) and then ends the process with HARD_TIMEOUT_EXIT.
    3. With ``on_hard_timeout``, faulthandler ends the process after another ``grace``: native
       code that holds the GIL runs neither signal handlers nor the watchdog thread.

    The eager runner passes no ``on_hard_timeout``: ending the process there would end the
    researcher's session (a notebook kernel), so it relies on layer 1 alone.

    The previous SIGALRM handler and the rest of any timer already running (pytest-timeout, a
    researcher's own alarm) are restored afterwards.
    """
    if not seconds:
        return fn()
    limit = float(seconds)
    state = {"armed": True, "fired": 0}
    started = time.monotonic()

    def on_alarm(signum: int, frame: Any) -> None:
        if not state["armed"]:  # fired while the time limit was being taken down
            return
        state["fired"] += 1
        raise StageTimeout(_timeout_message(what, limit, time.monotonic() - started))

    previous = signal.signal(signal.SIGALRM, on_alarm)
    previous_timer = (0.0, 0.0)
    watchdog = None
    try:
        previous_timer = signal.setitimer(signal.ITIMER_REAL, limit, REPEAT_EVERY)
        if on_hard_timeout is not None:
            watchdog = _Watchdog(limit, grace, what, on_hard_timeout)
        try:
            result = fn()
        except Exception as exc:
            if state["fired"]:  # it swallowed a StageTimeout, then failed: still a timeout
                raise StageTimeout(
                    _timeout_message(what, limit, time.monotonic() - started)
                ) from exc
            raise
        if state["fired"]:  # the body swallowed every StageTimeout and returned late
            raise StageTimeout(_timeout_message(what, limit, time.monotonic() - started))
        return result
    finally:
        # An alarm can still be delivered here; the handler is a no-op once disarmed, and a
        # StageTimeout raised before that only restarts the take-down (whatever fn raised,
        # or its result, still wins).
        while True:
            try:
                state["armed"] = False
                if watchdog is not None:
                    watchdog.cancel()
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                if previous_timer[0] > 0:
                    left = previous_timer[0] - (time.monotonic() - started)
                    signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), previous_timer[1])
                break
            except StageTimeout:
                continue


def _timeout_message(what: str, limit: float, elapsed: float) -> str:
    late = elapsed - limit
    message = f"{what} exceeded its time limit of {limit:g} s"
    return message + (f" (still running {late:.0f} s after it)" if late >= 0.5 else "")


class _Watchdog:
    """The hard limit of ``call_with_timeout``: a thread, plus faulthandler as a last resort."""

    def __init__(
        self, limit: float, grace: float, what: str, on_hard_timeout: Callable[[StageTimeout], None]
    ) -> None:
        self.done = threading.Event()
        self.what, self.limit, self.grace = what, limit, grace
        self.on_hard_timeout = on_hard_timeout
        self.faulthandler = False
        try:  # needs a real file descriptor for stderr (not so under some test runners)
            faulthandler.dump_traceback_later(limit + 2 * grace, exit=True)
            self.faulthandler = True
        except (OSError, ValueError, AttributeError, RuntimeError):
            pass
        threading.Thread(target=self._watch, name="cfcompile-time-limit", daemon=True).start()

    def _watch(self) -> None:
        if self.done.wait(self.limit + self.grace):
            return
        exc = StageTimeout(
            f"{self.what} exceeded its time limit of {self.limit:g} s and was still running "
            f"{self.grace:g} s later: process ended"
        )
        try:
            log.error("%s", exc)
            self.on_hard_timeout(exc)
        except BaseException:  # noqa: BLE001 - the process must end whatever the callback does
            log.exception("the hard time limit's callback failed")
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - a closed stream must not keep us alive
                    pass
            os._exit(HARD_TIMEOUT_EXIT)

    def cancel(self) -> None:
        self.done.set()
        if self.faulthandler:
            faulthandler.cancel_dump_traceback_later()
            self.faulthandler = False


def timed_call(
    seconds: float | None,
    fn: Callable[[], Any],
    what: str,
    on_hard_timeout: Callable[[StageTimeout], None] | None = None,
) -> tuple[Any, dict]:
    """Run a stage body under its time limit; return its result and the metadata timing.

    The timing has wall-clock start/end/seconds and the CPU seconds of this process, which is
    what a results table and the benchmarks' ideal (stage CPU time / cores) need.
    """
    start, cpu = time.time(), time.process_time()
    result = call_with_timeout(seconds, fn, what, on_hard_timeout)
    end = time.time()
    timing = {
        "start": start,
        "end": end,
        "seconds": round(end - start, 6),
        "cpu_seconds": round(time.process_time() - cpu, 6),
    }
    return result, timing
