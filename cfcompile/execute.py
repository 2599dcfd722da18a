"""One stage call, shared by the eager runner and the job runtime.

Both must do exactly the same thing around the researcher's function: enforce its time limit,
time it, split its return value into outputs and publish the outputs (and the stage's
reportables) together or not at all. Written once here so the two cannot drift apart.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Callable
from typing import Any

from cfcompile.caching import FileReferenceCacher, Lazy
from cfcompile.publish import Transaction
from cfcompile.stages import StageSpec

REPORTABLES = "reportables"
REPORTABLES_LIST = "reportables_file_list"


class StageTimeout(Exception):
    """Raised inside a stage that ran past its ``timeout``."""


def call_with_timeout(seconds: float | None, fn: Callable[[], Any], what: str) -> Any:
    if not seconds:
        return fn()

    def on_alarm(signum, frame):
        raise StageTimeout(f"{what} exceeded its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed_call(seconds: float | None, fn: Callable[[], Any], what: str) -> tuple[Any, dict]:
    """Run a stage body under its time limit; return its result and the metadata timing.

    The timing has wall-clock start/end/seconds and the CPU seconds of this process, which is
    what a results table and the benchmarks' ideal (stage CPU time / cores) need.
    """
    start, cpu = time.time(), time.process_time()
    result = call_with_timeout(seconds, fn, what)
    end = time.time()
    timing = {
        "start": start,
        "end": end,
        "seconds": round(end - start, 6),
        "cpu_seconds": round(time.process_time() - cpu, 6),
    }
    return result, timing


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


def call_stage(
    spec: StageSpec, record: Any, records: list | None, args: tuple, inputs: dict, label: str
) -> tuple[tuple, dict]:
    """Call the undecorated function under its time limit; its outputs as a tuple, and timing.

    ``Lazy`` inputs are loaded here, right before the body needs them.
    """
    result, timing = timed_call(
        spec.timeout,
        lambda: spec.invoke(record, records, args, resolve_inputs(spec, inputs)),
        f"stage '{spec.name}' ({label})",
    )
    return spec.split_outputs(result, label), timing
