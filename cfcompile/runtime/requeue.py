"""Slurm's warning becomes save, requeue, resume: the array task's side of long stages.

Every ``--submit slurm`` task asks for USR2 ``checkpoint_signal_seconds`` before its time
limit (submitit writes the ``--signal``; srun passes it to the task's process), and a site
with ``preempt_send_user_signal`` sends the same signal when the task is preempted. The
tracer cannot know which stages checkpoint, so the decision is made here, when the signal
arrives:

- the running node opened no checkpoint: nothing changes (the time limit ends the task,
  the retry job gives it twice the time, as before);
- it did, and its checkpoint advanced in this attempt: the node's next ``save`` writes and
  raises ``Interrupted`` (if no ``save`` comes within a quarter of the grace, the last state
  handed over is written and the node interrupted from here); the task then requeues itself
  (``scontrol requeue ARRAYJOB_TASK``) with its time limit unchanged, and the next attempt
  skips the chain's finished nodes and resumes the interrupted one;
- the node was interrupted ``checkpoint_max_requeues`` times already, or its checkpoint did
  not advance in this attempt: it is not interrupted again, and the log says why.

Where users may not requeue their jobs, the task waits for its time limit instead: it ends
as TIMEOUT, and the retry job resubmits a node with a checkpoint with the same time.
Standard library only (the job runtime imports it).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from typing import Any

from cfcompile.core import checkpoint as checkpoints
from cfcompile.core.checkpoint import Interrupted

log = logging.getLogger("cfcompile.job")

SIGNAL = signal.SIGUSR2
"""submitit's ``--signal`` (``slurm_signal_delay_s`` sets how early): one signal for both."""
DEFAULT_GRACE_S = 120
DEFAULT_MAX_REQUEUES = 20
TIME_LIMIT = "interrupted: time limit near"
PREEMPTED = "interrupted: preempted"


def grace_seconds(wanted: float | None, time_min: float) -> int:
    """How early a task asks for the signal: ``checkpoint_signal_seconds``, but never more
    than a quarter of the task's time limit (a 2-minute task is warned 30 s ahead)."""
    want = DEFAULT_GRACE_S if wanted is None else float(wanted)
    return max(1, int(min(want, time_min * 60 / 4)))


class WarningHandler:
    """The task's handler of the signal; ``install`` puts it in place."""

    def __init__(self, grace_s: float, max_requeues: int) -> None:
        self.grace_s, self.max_requeues = grace_s, max_requeues
        self.seen_at: float | None = None
        self.target: checkpoints.Checkpoint | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        now = time.time()
        if self.target is not None:  # the reminder: no save() came in time; write from here
            target = self.target
            if checkpoints.current() is target and target.stop is not None:
                target.flush()
                raise Interrupted(target.stop)
            return
        self.seen_at = now
        ckpt = checkpoints.current()
        if ckpt is None:
            log.warning("cfcompile: Slurm's warning signal: the running node has no checkpoint; "
                        "it runs on (a task that runs out of time is resubmitted by the retry "
                        "job with twice the time)")  # fmt: skip
            return
        interrupted = sum(1 for a in ckpt.attempts if str(a.get("ended", "")).startswith(
            "interrupted:"))  # fmt: skip
        if interrupted >= self.max_requeues:
            log.warning("cfcompile: stage %s was interrupted %d times already "
                        "(checkpoint_max_requeues): it is not requeued again and runs on",
                        ckpt.stage, interrupted)  # fmt: skip
            return
        if not ckpt.advanced():
            log.warning("cfcompile: stage %s: its checkpoint did not advance in this attempt "
                        "(no save() since it started): it is not requeued, it runs on to the "
                        "time limit", ckpt.stage)  # fmt: skip
            return
        why = PREEMPTED if preempted() else TIME_LIMIT
        log.warning("cfcompile: stage %s: %s; saving its checkpoint to requeue", ckpt.stage, why)
        ckpt.request_stop(why)
        self.target = ckpt
        remind = threading.Timer(max(1.0, self.grace_s / 4), self.remind, (ckpt, signum))
        remind.daemon = True
        remind.start()

    def remind(self, ckpt: checkpoints.Checkpoint, signum: int) -> None:
        """From the timer's thread: the node has not reached a ``save`` yet; the handler, on
        the main thread, writes the last state handed over and interrupts it."""
        if checkpoints.current() is ckpt:
            os.kill(os.getpid(), signum)


def install(grace_s: float, max_requeues: int) -> WarningHandler:
    handler = WarningHandler(grace_s, max_requeues)
    signal.signal(SIGNAL, handler)
    return handler


def job_fields() -> dict[str, str]:
    """``scontrol show job -o`` of this task, as {key: value} (empty when it cannot tell)."""
    job = checkpoints.task_id()
    if job is None:
        return {}
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True,
                             text=True, timeout=20).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(re.findall(r"(\w+)=(\S*)", out))


def preempted() -> bool:
    """A preemption sets the job's EndTime to now plus GraceTime, well before StartTime plus
    TimeLimit; Slurm's warning before the time limit leaves EndTime where it was."""
    fields = job_fields()
    try:
        start = time.mktime(time.strptime(fields["StartTime"], "%Y-%m-%dT%H:%M:%S"))
        end = time.mktime(time.strptime(fields["EndTime"], "%Y-%m-%dT%H:%M:%S"))
        limit = _seconds(fields["TimeLimit"])
    except (KeyError, ValueError):
        return False
    return limit is not None and end < start + limit - 5


def _seconds(text: str) -> int | None:
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text)
    if not m:
        return None
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def requeue_and_wait(exc: Interrupted) -> None:
    """Put this task back in the queue with its time limit unchanged; Slurm then ends this
    attempt (SIGTERM). Where the site refuses, wait for the time limit (the retry job
    resubmits a task that ran out of time, with the same time when its node checkpoints)."""
    job = checkpoints.task_id()
    if job is None:
        return
    proc = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if proc.returncode == 0:
        log.warning("cfcompile: %s; checkpoint saved, task %s requeued", exc.why, job)
    else:
        said = " ".join((proc.stderr or proc.stdout).split())
        log.warning("cfcompile: %s; checkpoint saved, but `scontrol requeue %s` failed (%s): "
                    "waiting for the time limit, after which the retry job resubmits it",
                    exc.why, job, said)  # fmt: skip
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:  # Slurm's SIGTERM ends this process here (or its time limit does)
        time.sleep(1)
