"""The site's limits on what one user may submit, read before anything is submitted.

Slurm refuses an array with more tasks than ``MaxArraySize`` allows ("Invalid job array
specification", default 1001 and often lower) and a submission that would put more jobs in
the queue than the user's association or QOS allows (``MaxSubmitJobs``,
``MaxSubmitJobsPerUser``, ``GrpSubmitJobs``: every array task counts) or than the controller
holds (``MaxJobCount``). Each limit is read here from the tools a login node has (``scontrol
show config``, ``sacctmgr show assoc`` and ``show qos``, ``squeue``), together with what is
queued already, so the packer can make every submission fit and say which limit decided.
Parsing is separate from running the commands, so it is tested from recorded text.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from dataclasses import dataclass, field

TIMEOUT_S = 60
ENDED_STATES = frozenset(
    "COMPLETED CANCELLED FAILED TIMEOUT OUT_OF_MEMORY NODE_FAIL PREEMPTED BOOT_FAIL DEADLINE "
    "SPECIAL_EXIT REVOKED".split()
)
"""Jobs in these states no longer count against the submit limits (squeue -t all lists them
until MinJobAge has passed)."""
DEFAULT_MAX_ARRAY_SIZE = 1001
"""Slurm's own default, used where ``scontrol`` cannot be asked."""


@dataclass
class Limit:
    name: str  # what the message calls it: "MaxSubmitJobs of association root/root"
    limit: int
    used: int  # jobs already queued that count against it
    counted: str = "queued"  # what ``used`` counts, as the messages say it

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class SiteLimits:
    """What one submission may hold: tasks per array, and jobs in the queue."""

    max_array_size: int = DEFAULT_MAX_ARRAY_SIZE
    submit: list[Limit] = field(default_factory=list)
    max_time_min: dict[str, int | None] = field(default_factory=dict)  # partition -> MaxTime
    default_partition: str | None = None
    notes: list[str] = field(default_factory=list)  # what could not be read, and why

    def max_time(self, partition: str | None) -> tuple[int | None, str]:
        """The partition's MaxTime in minutes (None: unlimited or unknown) and its name."""
        name = partition or self.default_partition or "(default)"
        return self.max_time_min.get(name), name

    @property
    def max_tasks_per_array(self) -> int:
        """Array indices run from 0 to MaxArraySize - 1."""
        return max(1, self.max_array_size)

    def room(self) -> tuple[int | None, Limit | None]:
        """How many more jobs (array tasks) the queue takes, and the limit that says so;
        (None, None) when no limit was found."""
        if not self.submit:
            return None, None
        tightest = min(self.submit, key=lambda lim: lim.free)
        return tightest.free, tightest

    def describe(self) -> str:
        free, tightest = self.room()
        text = f"MaxArraySize={self.max_array_size}"
        if tightest is not None:
            text += (
                f", {tightest.name}={tightest.limit} with {tightest.used} {tightest.counted}: "
                f"room for {free} job(s)"
            )
        return text


# -- parsing ---------------------------------------------------------------------------------------
def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config`` as {key: value}."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_partitions(text: str) -> tuple[dict[str, int | None], str | None]:
    """``scontrol show partition -o`` (one line per partition) as ({name: MaxTime minutes or
    None for UNLIMITED}, the default partition's name)."""
    limits: dict[str, int | None] = {}
    default = None
    for line in text.splitlines():
        fields_ = dict(word.partition("=")[::2] for word in line.split() if "=" in word)
        name = fields_.get("PartitionName")
        if not name:
            continue
        limits[name] = slurm_minutes(fields_.get("MaxTime", "UNLIMITED"))
        if fields_.get("Default") == "YES":
            default = name
    return limits, default


def slurm_minutes(text: str) -> int | None:
    """A Slurm duration (``30``, ``2:00:00``, ``1-12:00:00``, ``UNLIMITED``) in whole minutes,
    rounded up; None for unlimited or unreadable."""
    text = text.strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        return None
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is None and b is None:  # "30": minutes
        return a
    if c is None:  # "H:M" after days, "M:S" alone (Slurm's two readings of a pair)
        seconds = (a * 3600 + b * 60) if days is not None else (a * 60 + b)
    else:
        seconds = a * 3600 + b * 60 + c
    seconds += (days or 0) * 86400
    return -(-seconds // 60)


def _number(value: str | None) -> int | None:
    """A limit as sacctmgr and scontrol print it; empty, ``-1`` or ``UNLIMITED`` is none."""
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(r"\d+", value):
        return None
    return int(value)


def parse_rows(text: str, columns: list[str]) -> list[dict[str, str]]:
    """``sacctmgr -n -P show ... format=A,B,C`` rows as dicts (one per line)."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = line.split("|")
        rows.append(dict(zip(columns, cells + [""] * (len(columns) - len(cells)), strict=False)))
    return rows


ASSOC_COLUMNS = ["Cluster", "Account", "User", "Partition", "MaxSubmit", "GrpSubmit", "QOS",
                 "DefaultQOS"]  # fmt: skip
QOS_COLUMNS = ["Name", "MaxSubmitPU", "GrpSubmit", "MaxSubmitPA"]


def submit_limits(
    assoc: list[dict[str, str]],
    qos: list[dict[str, str]],
    user: str,
    account: str | None,
    qos_name: str | None,
    queued_user: int,
    queued_account: dict[str, int],
    queued_total: int,
    max_job_count: int | None,
    held_total: int | None = None,
) -> list[Limit]:
    """Every submit limit that applies to ``user`` submitting to ``account`` (all of the user's
    accounts when none is given: the tightest one then decides) under ``qos_name`` (else the
    association's default QOS, else ``normal``)."""
    mine = [r for r in assoc if r.get("User") == user]
    if account:
        mine = [r for r in mine if r.get("Account") == account] or mine
    accounts = {r.get("Account") for r in mine}
    out: list[Limit] = []
    for r in mine:
        n = _number(r.get("MaxSubmit"))
        if n is not None:
            out.append(Limit(f"MaxSubmitJobs of association {r['Account']}/{user}", n, queued_user))
    for r in assoc:  # the account's own association (no user): GrpSubmitJobs for everyone
        if r.get("User") or r.get("Account") not in accounts:
            continue
        n = _number(r.get("GrpSubmit"))
        if n is not None:
            used = queued_account.get(r["Account"], 0)
            out.append(Limit(f"GrpSubmitJobs of account {r['Account']}", n, used))
    names = {qos_name} if qos_name else {r.get("DefaultQOS") or "normal" for r in mine}
    for q in qos:
        if q.get("Name") not in names:
            continue
        n = _number(q.get("MaxSubmitPU"))
        if n is not None:
            out.append(Limit(f"MaxSubmitJobsPerUser of QOS {q['Name']}", n, queued_user))
        n = _number(q.get("GrpSubmit"))
        if n is not None:
            out.append(Limit(f"GrpSubmitJobs of QOS {q['Name']}", n, queued_total))
    if max_job_count is not None:
        held = queued_total if held_total is None else held_total
        out.append(Limit("MaxJobCount of the controller", max_job_count, held,
                         "held by the controller (ended ones for MinJobAge too)"))  # fmt: skip
    return out


def count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def per_account(text: str) -> dict[str, int]:
    """``squeue -h -r -o %a`` (one line per job or array task) counted per account."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.strip():
            out[line.strip()] = out.get(line.strip(), 0) + 1
    return out


# -- asking the site -------------------------------------------------------------------------------
def _run(cmd: list[str]) -> str | None:
    """The command's stdout, or None when it is missing, hangs or fails."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def current_user() -> str:
    return os.environ.get("USER") or getpass.getuser()


def read(account: str | None = None, qos: str | None = None) -> SiteLimits:
    """The limits that apply to this user now (a few calls to Slurm's tools, once a submission).

    What cannot be read is noted, not guessed: without ``sacctmgr`` (no accounting database)
    only ``MaxArraySize`` and ``MaxJobCount`` are known.
    """
    user = current_user()
    limits = SiteLimits()
    config = _run(["scontrol", "show", "config"])
    if config is None:
        limits.notes.append("scontrol show config failed: MaxArraySize assumed 1001")
        config_values: dict[str, str] = {}
    else:
        config_values = parse_config(config)
        limits.max_array_size = _number(config_values.get("MaxArraySize")) or 1001
    partitions = _run(["scontrol", "show", "partition", "-o"])
    if partitions is not None:
        limits.max_time_min, limits.default_partition = parse_partitions(partitions)
    assoc_text = _run(["sacctmgr", "-n", "-P", "show", "assoc",
                       f"format={','.join(ASSOC_COLUMNS)}"])  # fmt: skip
    qos_text = _run(["sacctmgr", "-n", "-P", "show", "qos", f"format={','.join(QOS_COLUMNS)}"])
    if assoc_text is None:
        limits.notes.append("sacctmgr show assoc failed: association limits unknown")
    # every job the controller holds, ended ones too: MaxJobCount counts those that ended in
    # the last MinJobAge seconds, the submit limits only those pending or running
    held = _run(["squeue", "-h", "-r", "-t", "all", "-o", "%u|%a|%T"]) or ""
    cells = [line.split("|", 2) for line in held.splitlines() if line.count("|") == 2]
    rows = [(u, a) for u, a, state in cells if state.strip() not in ENDED_STATES]
    queued_user = sum(1 for u, _ in rows if u == user)
    queued_account = per_account("\n".join(a for _, a in rows))
    limits.submit = submit_limits(
        parse_rows(assoc_text or "", ASSOC_COLUMNS),
        parse_rows(qos_text or "", QOS_COLUMNS),
        user,
        account,
        qos,
        queued_user,
        queued_account,
        len(rows),
        _number(config_values.get("MaxJobCount")),
        held_total=len(cells),
    )
    return limits
