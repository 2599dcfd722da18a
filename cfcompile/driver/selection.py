"""What to compile: the typed form of ``cfcompile EXPERIMENT -p PARAMS [options]``.

The command line is one way to fill it in (``cli.parsed.selection``); a notebook or a script
fills it in directly and hands it to ``driver.pipeline``. Everything that decides which
parameter sets are compiled and where their files go is here, and nothing else is: how the
result is run (cores, a profile, Slurm options) belongs to the mode that runs it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import StrEnum


class ReuseMode(StrEnum):
    """``--no-reuse``, the default, or ``--reuse`` (``docs/semantics.md``, Reuse)."""

    OFF = "off"
    DECLARED = "declared"  # stages that declare uses=[...] share computations
    LEARNED = "learned"  # and stages that declare nothing, by what they were seen to read


@dataclass(frozen=True)
class Selection:
    """One experiment, the parameter sets chosen from its parameter files, and the places
    its files go. Defaults are the command line's."""

    experiment: str
    params: tuple[str, ...] = ()
    """Parameter modules (``-p``); empty: the experiment's own ``get_params()``."""
    names: tuple[str, ...] | None = None
    indices: tuple[str, ...] | None = None
    project: str | None = None
    """The project folder; None: found from the working directory, as the CLI does."""
    cache_path: str | None = None
    prefix: str | None = None
    workflow_dir: str | None = None
    overwrite: bool = False
    reuse: ReuseMode = ReuseMode.DECLARED
    batch: int | str = "auto"
    rerun_changed_code: bool = False
    cores: int | None = None
    """What ``--batch auto`` balances job units over (``--cores``); None: every core here."""
    extra: tuple[str, ...] = field(default=(), compare=False)
    """Nothing the pipeline reads: room for a caller's own words in hints."""

    def where_words(self) -> list[str]:
        """The options that decide where things are, as they would be typed: every command a
        hint prints carries them, so that it finds what this run made."""
        words: list[str] = []
        for flag, value in (
            ("--project", self.project),
            ("--cache-path", self.cache_path),
            ("--prefix", self.prefix),
            ("--workflow-dir", self.workflow_dir),
        ):
            if value is not None:
                words += [flag, str(value)]
        return words

    def selection_words(self) -> list[str]:
        """``-p``, ``--names`` and ``--indices`` as typed."""
        words = [w for p in self.params for w in ("-p", p)]
        for flag, values in (("--names", self.names), ("--indices", self.indices)):
            if values:
                words += [flag, *map(str, values)]
        return words

    def command(self, *mode: str) -> str:
        """``cfcompile EXPERIMENT ... MODE``, shell-quoted: what a hint prints."""
        return shlex.join(["cfcompile", self.experiment, *self.selection_words(),
                           *self.where_words(), *mode])  # fmt: skip
