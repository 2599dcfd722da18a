"""Slurm job states for ``--status``: run sacct/squeue, parse their text, classify each state.

Split out of the submitit backend (now ``cfcompile.backends.slurm.arrays``) so the parsing
can be unit-tested from recorded sacct/squeue text, without a cluster and without importing
snakemake, networkx or jinja2.

What is submitit's and what is ours:

* submitit's: reading ``JobID|State`` lines and expanding array ids. submitit already parses
  sacct's ``--parsable2`` output for its own job watcher, in
  ``submitit.slurm.slurm.SlurmInfoWatcher.read_info``. That method skips job steps
  (``12_0.batch``) and lines without a job id, and it expands folded array ids
  (``12_[0-2,5%4]``, the form sacct and squeue use for array tasks that are still pending)
  through ``submitit.slurm.slurm.read_job_id``. We call it rather than keep a second copy
  that could drift from the one that tracks our own submissions. ``read_info`` expects a
  header line, and we run sacct with ``-n``, so ``_read_pairs`` adds the header
  ``JobID|State`` itself. squeue's ``%i|%T`` has the same shape, so it uses the same reader.
  Ids that ``read_job_id`` cannot read are dropped, with submitit's warning. The task for
  such an id then has no state, and status reports it as unknown.
  (``submitit.slurm.slurm._expand_id_suffix`` is not used: it expands node-list suffixes
  and zero-pads them, ``01-03``, which array ids never are.)
* ours: which commands to run and their flags (``-X``: one line per job or array task, not
  per step; ``squeue -r -t all``: one line per task, including jobs that finished recently).
  Also ours: the timeout, and skipping a tool that is missing or hangs. submitit's watcher
  polls only sacct, on its own schedule, and keeps state, while ``--status`` runs once.
  Merging sacct with squeue is ours: sacct wins; squeue fills in jobs that slurmdbd has not
  recorded yet. So are reducing ``CANCELLED by 0`` to ``CANCELLED`` and an empty state to
  ``UNKNOWN`` (submitit keeps sacct's raw text), and ``classify``. submitit has no
  user-facing status classes.

submitit is imported only when there is text to parse. Importing it costs about 0.1 s, and
``query([])`` (a workdir with no Slurm submissions) should cost nothing.
"""

from __future__ import annotations

import subprocess

SACCT_TIMEOUT_S = 60
SQUEUE_TIMEOUT_S = 60

QUEUED = frozenset({"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED", "RESIZING"})
RUNNING = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT"})
FAILED = frozenset({"FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED"})

_HEADER = "JobID|State"


def _read_pairs(text: str) -> dict[str, str]:
    """Task id -> normalised state, from ``id|state`` lines, through submitit's sacct reader."""
    if not text.strip():
        return {}
    from submitit.slurm.slurm import SlurmInfoWatcher

    info = SlurmInfoWatcher().read_info(f"{_HEADER}\n{text}")
    return {jid: _normalise(fields.get("State", "")) for jid, fields in info.items()}


def _normalise(state: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; empty -> ``UNKNOWN``. Callers compare exact names."""
    words = state.split()
    return words[0] if words else "UNKNOWN"


def parse_sacct(text: str) -> dict[str, str]:
    """State per job or array task id, from ``sacct -n -P -X -o JobID,State`` output.

    Folded pending arrays (``12_[0-2,5%4]``) are expanded to one entry per task, so that a
    recorded task id such as ``12_5`` can be looked up directly.
    """
    return _read_pairs(text)


def parse_squeue(text: str) -> dict[str, str]:
    """State per job or array task id, from ``squeue -h -r -t all -o %i|%T`` output.

    squeue only knows jobs that are queued, running or finished a few minutes ago
    (MinJobAge). A job that is not in this text is therefore not in the result, and
    ``query`` relies on sacct for it.
    """
    return _read_pairs(text)


def expand_array_id(jid: str) -> list[str]:
    """``12_[0-2,5%4]`` -> ``[12_0, 12_1, 12_2, 12_5]``; ``12_3`` -> ``[12_3]``; ``12`` -> ``[12]``.

    Unreadable ids give ``[]``, the same as ``parse_sacct`` gives for them.
    """
    return list(_read_pairs(f"{jid.strip()}|"))


def run(cmd: list[str], timeout: float) -> str:
    """The command's stdout, or "" if it is missing, hangs or fails.

    A login node without Slurm tools, or a slurmdbd that is down, must not break
    ``--status``. Tasks with no state are reported as unknown.
    """
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def query(job_ids: list[str]) -> dict[str, str]:
    """State per array task id (``123_4``) for the given job/array ids, from sacct then squeue.

    sacct comes first because it also knows jobs that finished long ago. squeue fills in
    jobs that slurmdbd has not recorded yet (just submitted, or the database is lagging),
    and it never overrides sacct.
    """
    if not job_ids:
        return {}
    joined = ",".join(job_ids)
    states = parse_sacct(
        run(["sacct", "-n", "-P", "-X", "-j", joined, "-o", "JobID,State"], SACCT_TIMEOUT_S)
    )
    squeue = parse_squeue(
        run(["squeue", "-h", "-r", "-t", "all", "-j", joined, "-o", "%i|%T"], SQUEUE_TIMEOUT_S)
    )
    for jid, state in squeue.items():
        states.setdefault(jid, state)
    return states


def classify(state: str) -> str:
    """One of queued, running, done, failed, timed out, cancelled, unknown.

    TIMEOUT is kept apart from the other failures because the fix is different: ask for more
    runtime, not debug the stage. Raw sacct text is accepted (``CANCELLED by 0``).
    """
    word = _normalise(state).upper()
    if word in QUEUED:
        return "queued"
    if word in RUNNING:
        return "running"
    if word == "COMPLETED":
        return "done"
    if word == "TIMEOUT":
        return "timed out"
    if word in FAILED:
        return "failed"
    if word.startswith("CANCELLED"):
        return "cancelled"
    return "unknown"
