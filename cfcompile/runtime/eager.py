"""The eager engine: run a stage now, in this process, with curifactory's cache semantics.

This is the reference every compiled run must reproduce: skip a stage whose outputs are all
cached (unless ``overwrite``), otherwise call it and publish every output together.
"""

from __future__ import annotations

import logging
from typing import Any

from cfcompile.caching import Lazy
from cfcompile.core.execute import call_stage, save_outputs, store_in_state
from cfcompile.core.reportables import load_cached_reportables
from cfcompile.stages import StageSpec, gather_inputs, params_name

log = logging.getLogger("cfcompile")


class EagerEngine:
    """Runs stages in process; counts what ran and what came from the cache."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.cached: list[tuple[str, str]] = []

    def call(self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
        inputs = gather_inputs(spec, record, records, kwargs)
        cachers = spec.make_cachers(record)
        record.stage_cachers = cachers  # what curifactory shows a stage, cached or not
        label = params_name(record) or ("aggregate" if spec.is_aggregate else "None")
        if cachers and not record.overwrite_requested() and all(c.check() for c in cachers):
            values = []
            for cacher, output in zip(cachers, spec.outputs, strict=True):
                cacher.load_metadata()
                values.append(None if isinstance(output, Lazy) else cacher.load())
            store_in_state(spec, record, cachers, tuple(values))
            load_cached_reportables(record, spec)
            record.stage_cachers = None
            self.cached.append((spec.name, label))
            log.info("stage %s [%s]: cached", spec.name, label)
            return record
        log.info("stage %s [%s]: running", spec.name, label)
        try:
            values, timing = call_stage(spec, record, records, args, inputs, label, cachers=cachers)
        except BaseException:
            log.error("stage %s [%s] raised; none of its outputs were cached", spec.name, label)
            raise
        save_outputs(spec, record, cachers, values, timing)
        store_in_state(spec, record, cachers, values)
        self.ran.append((spec.name, label))
        return record


class DryEagerEngine(EagerEngine):
    """curifactory's dry run: cached stages are read from the cache, the others run and
    nothing is written. Their outputs stay in memory, ``Lazy`` ones too (there is no file to
    load them from later; curifactory would fail reading them)."""

    def call(self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
        cachers = spec.make_cachers(record)
        if cachers and not record.overwrite_requested() and all(c.check() for c in cachers):
            return super().call(spec, record, records, args, kwargs)  # reads, never writes
        label = params_name(record) or ("aggregate" if spec.is_aggregate else "None")
        log.info("stage %s [%s]: running (dry: nothing is cached)", spec.name, label)
        inputs = gather_inputs(spec, record, records, kwargs)
        values, _ = call_stage(spec, record, records, args, inputs, label)
        for output, value in zip(spec.outputs, values, strict=True):
            record.state[str(output)] = value
        record.output = values[0] if len(values) == 1 else (values if values else None)
        self.ran.append((spec.name, label))
        return record
