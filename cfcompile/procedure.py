"""``Procedure``: a list of stages run in order on one record, as curifactory defines it.

It only calls the decorated stage functions, one after the other, exactly as ``run()`` would:
under the tracer that records the same nodes and edges as the direct calls, eagerly it runs
them, so a procedure needs nothing of its own from any engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cfcompile.errors import CfcompileError
from cfcompile.record import ArtifactManager, Record


class NoArtifactManagerError(CfcompileError):
    """``Procedure.run`` was called without a manager, and none was given when it was made."""


class Procedure:
    """Stages to run in sequence on a record created for each parameter set.

    ``stages`` are ``@stage``/``@aggregate`` functions; only the first may be an aggregate. It
    aggregates over ``previous_proc.records`` when given, else over ``records`` (given here or
    to ``run``), else over every record of the manager. ``name`` is informative only.
    """

    def __init__(
        self,
        stages: list[Callable],
        manager: ArtifactManager | None = None,
        name: str | None = None,
        previous_proc: Procedure | None = None,
        records: list[Record] | None = None,
    ):
        self.name = name
        self.stages = stages
        self.record: Record | None = None
        self.manager = manager
        self.records: list[Record] = []  # every record run through this procedure
        self.previous_proc = previous_proc
        self.use_records = records

    def run(
        self,
        param_set: Any,
        record: Record | None = None,
        hide: bool = False,
        manager: ArtifactManager | None = None,
        records: list[Record] | None = None,
    ) -> Any:
        """Run the stages on ``record`` (or a new record of ``param_set``); returns what the last
        stage returned (the record). A manager already set is kept, as in curifactory, so the
        same procedure can be called in a loop with ``manager=``."""
        if self.manager is None and manager is None:
            raise NoArtifactManagerError(
                "This procedure does not have an artifact manager. Either initialize it with "
                "one, or call with `proc.run(manager=...)`"
            )
        if self.manager is None:
            self.manager = manager
        if records is not None:
            self.use_records = records
        if record is None:
            self.record = Record(self.manager, param_set, hide=hide)
            self.records.append(self.record)
        else:
            self.record = record

        output = None
        for index, stage in enumerate(self.stages):
            if index == 0 and self.previous_proc is not None:
                output = stage(self.record, self.previous_proc.records)
            elif index == 0 and self.use_records is not None:
                output = stage(self.record, self.use_records)
            else:  # an aggregate called with no records takes every record of the manager
                output = stage(self.record)
        return output


__all__ = ["NoArtifactManagerError", "Procedure"]
