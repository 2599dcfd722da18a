"""The eager engine: run a stage now, in this process, with curifactory's cache semantics.

This is the reference every compiled run must reproduce: skip a stage whose outputs are all
cached (unless ``overwrite``), otherwise call it and publish every output together.
"""

from __future__ import annotations

import logging
import os
import pickle
from typing import Any

from cfcompile.caching import FileReferenceCacher, Lazy
from cfcompile.limits import timed_call
from cfcompile.publish import Transaction
from cfcompile.stages import StageSpec, gather_inputs, params_name

log = logging.getLogger("cfcompile")

REPORTABLES = "reportables"
REPORTABLES_LIST = "reportables_file_list"


def overwrite_requested(spec: StageSpec, record: Any) -> bool:
    manager = record.manager
    if manager.overwrite or spec.name in manager.overwrite_stages:
        return True
    if record.params is not None:
        return bool(record.params.overwrite)
    return any(r.params is not None and r.params.overwrite for r in record.input_records)


def resolve(value: Any) -> Any:
    """Load ``Lazy`` artifacts right before a stage body needs them."""
    if isinstance(value, Lazy) and value.resolve:
        return value.load()
    return value


def resolve_inputs(spec: StageSpec, inputs: dict) -> dict:
    out = dict(inputs)
    for name in spec.inputs:
        if name not in out:
            continue
        if spec.is_aggregate and isinstance(out[name], dict):
            out[name] = {rec: resolve(v) for rec, v in out[name].items()}
        else:
            out[name] = resolve(out[name])
    return out


def save_outputs(
    spec: StageSpec, record: Any, cachers: list | None, values: tuple, timing: dict
) -> None:
    """Publish every cached output (and the stage's reportables) together, or none of them."""
    reportables = [
        r for r in record.manager.reportables if r.record is record and r.stage == spec.name
    ]
    if not cachers and not reportables:
        return
    txn = Transaction()
    try:
        for cacher, value in zip(cachers or [], values, strict=False):
            cacher.transaction = txn
            cacher.save(value)
            meta = cacher.collect_metadata()
            meta["preview"] = _preview(value)
            meta["timing"] = timing
            cacher.save_metadata()
        if reportables:
            _save_reportables(record, spec, reportables, txn)
        txn.commit()
    except BaseException:
        txn.abort()
        raise
    finally:
        for cacher in cachers or []:
            cacher.transaction = None


def _save_reportables(record: Any, spec: StageSpec, reportables: list, txn: Transaction) -> None:
    folder = txn.stage_path(record.get_path(REPORTABLES, stage_name=spec.name))
    os.makedirs(folder, exist_ok=True)
    final_folder = record.get_path(REPORTABLES, stage_name=spec.name)
    paths = []
    for rep in reportables:
        clone = rep.__class__.__new__(rep.__class__)
        clone.__dict__.update(rep.__dict__)
        clone.record = None
        name = f"{rep.qualified_name}.pkl"
        with open(os.path.join(folder, name), "wb") as outfile:
            pickle.dump(clone, outfile)
        paths.append(os.path.join(final_folder, name))
    listing = FileReferenceCacher(name=REPORTABLES_LIST)
    listing.set_record(record)
    listing.stage = spec.name
    listing.transaction = txn
    listing.save(paths)
    listing.collect_metadata()["extra"]["reportables"] = True
    listing.save_metadata()


def load_cached_reportables(record: Any, spec: StageSpec) -> None:
    listing = FileReferenceCacher(name=REPORTABLES_LIST)
    listing.set_record(record)
    listing.stage = spec.name
    if not listing.check():
        return
    for path in listing.load():
        with open(path, "rb") as infile:
            record.report(pickle.load(infile))


def _preview(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a preview must never fail a save
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def store_in_state(spec: StageSpec, record: Any, cachers: list | None, values: tuple) -> None:
    for i, output in enumerate(spec.outputs):
        if isinstance(output, Lazy):
            lazy = Lazy(output.name, output.resolve)
            lazy.cacher = cachers[i]
            record.state[output.name] = lazy
        else:
            record.state[output] = values[i]
    record.output = values[0] if len(values) == 1 else (values if values else None)


class EagerEngine:
    """Runs stages in process; counts what ran and what came from the cache."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.cached: list[tuple[str, str]] = []

    def call(self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
        inputs = gather_inputs(spec, record, records, kwargs)
        cachers = spec.make_cachers(record)
        label = params_name(record) or ("aggregate" if spec.is_aggregate else "None")
        if cachers and not overwrite_requested(spec, record) and all(c.check() for c in cachers):
            values = []
            for cacher, output in zip(cachers, spec.outputs, strict=True):
                cacher.load_metadata()
                values.append(None if isinstance(output, Lazy) else cacher.load())
            store_in_state(spec, record, cachers, tuple(values))
            load_cached_reportables(record, spec)
            self.cached.append((spec.name, label))
            log.info("stage %s [%s]: cached", spec.name, label)
            return record
        log.info("stage %s [%s]: running", spec.name, label)
        try:
            result, timing = timed_call(
                spec.timeout,
                lambda: spec.invoke(record, records, args, resolve_inputs(spec, inputs)),
                f"stage '{spec.name}' ({label})",
            )
        except Exception:
            log.error("stage %s [%s] raised; none of its outputs were cached", spec.name, label)
            raise
        values = spec.split_outputs(result, params_name(record))
        save_outputs(spec, record, cachers, values, timing)
        store_in_state(spec, record, cachers, values)
        self.ran.append((spec.name, label))
        return record
