"""cfcompile's Snakemake logger (``--logger cfcompile``): the run as a researcher reads it.

One line per stage (or per group of stages that run as one job unit) with a bar, done out of
the jobs the compile planned, and the parameter sets running now; a line with the whole run's
done/total and the time left at the pace so far; failures as they happen, one line each with
the log; then what the workflow prints at its end (the failure summary, what aggregates
printed, the best configurations). Snakemake's own chatter (the DAG, job stats, host banner)
is left out; warnings and errors are never left out.

Snakemake imports every installed logger plugin at each start, so this module imports only
the logging interface at import time; rich is imported when the handler is made.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

QUIET = (
    "Building DAG of jobs",
    "Using shell",
    "Provided cores",
    "Rules claiming more threads",
    "Select jobs to execute",
    "Assuming unrestricted shared filesystem",
    "Job stats:",
    "Execute ",
    "Nothing to be done",
    "Complete log",
    "Elapsed time",
)
"""Snakemake's own info lines, left out (warnings and errors are always shown)."""
ALL_RULE = "all nodes"
"""The compiled Snakefile's target rule: no work of its own, no line."""
RUNNING_SHOWN = 3
"""Parameter sets named per stage line; the rest are counted."""


@dataclass
class _Stage:
    total: int = 0
    done: int = 0
    failed: set = field(default_factory=set)  # job ids whose last try failed
    running: dict = field(default_factory=dict)  # job id -> set names


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=not self.common_settings.stdout, highlight=False)
        if not self.console.is_terminal:  # a log file: whole lines, no wrapping at 80
            self.console = Console(stderr=not self.common_settings.stdout, highlight=False,
                                   width=250)  # fmt: skip
        self.stages: dict[str, _Stage] = {}
        self.jobs: dict[int, tuple[str, str]] = {}  # job id -> (stage key, label)
        self.planned: dict[str, int] | None = None
        self.started: float | None = None
        self.progress = (0, 0)
        self.live = None
        self.ended = False
        self.shown_final = False  # the last frame is printed: what follows is plain text

    # -- what Snakemake tells -------------------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._handle(record)
        except Exception:  # noqa: BLE001 - a display must never fail the run
            self.handleError(record)

    def _handle(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_INFO:
            self._job_info(record)
        elif event == LogEvent.JOB_FINISHED:
            key = self.jobs.get(getattr(record, "job_id", None), (None, ""))[0]
            if key in self.stages:
                stage = self.stages[key]
                stage.done += 1
                stage.running.pop(getattr(record, "job_id", None), None)
        elif event == LogEvent.JOB_ERROR:
            jobid = getattr(record, "jobid", None)
            key, label = self.jobs.get(jobid, (getattr(record, "rule_name", "job"), ""))
            if key in self.stages:
                self.stages[key].failed.add(jobid)
                self.stages[key].running.pop(jobid, None)
            logs = ", ".join(getattr(record, "log", None) or [])
            self._print_failed(f"{label or key}" + (f" (log: {logs})" if logs else ""))
        elif event == LogEvent.PROGRESS:
            self.progress = (getattr(record, "done", 0), getattr(record, "total", 0))
        elif event in (LogEvent.JOB_STARTED, LogEvent.SHELLCMD, LogEvent.RUN_INFO,
                       LogEvent.RESOURCES_INFO, LogEvent.WORKFLOW_STARTED, LogEvent.RULEGRAPH,
                       LogEvent.DEBUG_DAG, LogEvent.GROUP_INFO):  # fmt: skip
            pass
        else:
            self._message(record)
        self._refresh()

    def _job_info(self, record: logging.LogRecord) -> None:
        label = str(getattr(record, "rule_msg", None) or getattr(record, "rule_name", "job"))
        key, _, names = label.partition(" [")
        if key == ALL_RULE:
            return
        if self.planned is None:
            self.planned = _planned()
            for planned_key, n in self.planned.items():  # every stage line from the start
                self.stages.setdefault(planned_key, _Stage(total=n))
        if key not in self.stages:
            self.stages[key] = _Stage(total=self.planned.get(key, 0))
        stage = self.stages[key]
        jobid = getattr(record, "jobid", None)
        self.jobs[jobid] = (key, label)
        stage.running[jobid] = _printable(names.rstrip("]"))
        stage.failed.discard(jobid)  # tried again
        stage.total = max(stage.total, stage.done + len(stage.failed) + len(stage.running))
        if self.started is None:
            self.started = time.time()

    def _message(self, record: logging.LogRecord) -> None:
        text = record.getMessage() if record.msg is not None else ""
        if not text.strip():
            return
        if record.levelno < logging.WARNING and text.lstrip().startswith(QUIET):
            return
        if record.levelno < logging.WARNING and _snakemake_banner(text):
            return
        if "cfcompile/client.py" in text and ("exit status" in text or "died with" in text):
            return  # a job of ours failed: its "failed:" line says which, and where the log is
        style = "red" if record.levelno >= logging.ERROR else None
        self._print(text, style=style)

    # -- what the researcher sees ---------------------------------------------------------------
    def _print_failed(self, text: str) -> None:
        """``failed: LABEL (log: ...)``, the label as text: set names may hold brackets."""
        from rich.text import Text

        line = Text.assemble(("failed", "red"), ": ", _printable(text))
        (self.live.console if self.live is not None else self.console).print(line)

    def _print(self, text: str, style: str | None = None, markup: bool = False) -> None:
        if self.live is not None:
            self.live.console.print(text, style=style, markup=markup, highlight=False)
        else:
            self.console.print(text, style=style, markup=markup, highlight=False)

    def _refresh(self) -> None:
        if not self.stages or self.shown_final:
            return
        if self.live is None:
            from rich.live import Live

            self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                             transient=False)  # fmt: skip
            self.live.start()
        else:
            self.live.update(self._render())
        done, total = self.progress
        if total and done >= total:  # every job ran: the last frame stays, then plain lines
            self.ended = True
            self._stop()

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        width = max(len(k) for k in self.stages)
        for key, s in self.stages.items():
            total = max(s.total, 1)
            filled = int(20 * s.done / total)
            bar = Text("━" * filled, style="green") + Text("━" * (20 - filled), style="grey35")
            names = list(s.running.values())
            running = ""
            if names:
                shown = ", ".join(n for n in names[:RUNNING_SHOWN] if n)
                more = f" +{len(names) - RUNNING_SHOWN}" if len(names) > RUNNING_SHOWN else ""
                running = f"running: {shown}{more}" if shown else f"running: {len(names)}"
            count = f"{s.done}/{s.total}" + (f", {len(s.failed)} failed" if s.failed else "")
            table.add_row(Text(key.ljust(width)), bar, Text(count), Text(running, style="cyan"))
        done, total = self.progress
        line = f"{done} of {total} jobs" if total else ""
        if self.started and 0 < done < total and not self.ended:
            left = (time.time() - self.started) / done * (total - done)
            line += f", about {_duration(left)} left"
        table.add_row(Text(line, style="bold"), Text(""), Text(""), Text(""))
        return table

    def _stop(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.stop()
            self.live = None
            self.shown_final = self.ended
            if not self.console.is_terminal:
                self.console.print()  # a log file: what follows starts a line of its own

    def close(self) -> None:
        self.ended = True
        self._stop()
        super().close()

    # -- what Snakemake asks of a plugin -----------------------------------------------------------
    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False


def _planned() -> dict[str, int]:
    """Jobs per stage line the compile planned (its manifest's ``to_run``); the compiled
    Snakefile names its version in CFCOMPILE_VERSION when Snakemake parses it."""
    version = os.environ.get("CFCOMPILE_VERSION")
    if not version:
        return {}
    try:
        with open(os.path.join(version, "manifest.json")) as f:
            return {str(k): int(v) for k, v in json.load(f).get("to_run", {}).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _snakemake_banner(text: str) -> bool:
    """Snakemake 9's start banner (host, versions, command, folders): not the researcher's."""
    return text.lstrip().startswith(("SNAKEMAKE", "=====", "Date:", "Workflow ID:")) or (
        "Snakemake version:" in text and "Python version:" in text
    )


def _printable(text: str) -> str:
    """Control characters (a name's escape codes) shown as ``?``: the terminal stays ours."""
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
