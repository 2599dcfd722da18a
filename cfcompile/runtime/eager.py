"""The eager engines: run a stage now, in this process, with curifactory's cache semantics.

This is the reference every compiled run must reproduce: skip a stage whose outputs are all
cached (unless ``overwrite``), otherwise call it and publish every output together
(``core.execute.run_stage``, where the call reads top to bottom).
"""

from __future__ import annotations

from typing import Any

from cfcompile.core.execute import Outcome, run_stage
from cfcompile.stages import StageSpec, params_name


class EagerEngine:
    """Runs stages in process; counts what ran and what came from the cache."""

    save = True

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.cached: list[tuple[str, str]] = []

    def call(self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
        outcome = run_stage(spec, record, records, args, kwargs, save=self.save)
        label = params_name(record) or ("aggregate" if spec.is_aggregate else "None")
        (self.cached if outcome is Outcome.CACHED else self.ran).append((spec.name, label))
        return record


class DryEagerEngine(EagerEngine):
    """curifactory's dry run: cached stages are read from the cache, the others run and
    nothing is written. Their outputs stay in memory, ``Lazy`` ones too (there is no file to
    load them from later; curifactory would fail reading them)."""

    save = False
