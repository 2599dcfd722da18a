"""One stage call, top to bottom: shared by the eager engines and the job runtime.

``run_stage`` is curifactory's live rule, read in order: gather the inputs, make the cachers,
and either load every output from the cache or call the function under its time limit,
publish the outputs (and the stage's reportables) together, and put them in the record's
state. The job runtime calls the same ``call_stage`` and ``save_outputs`` with the inputs and
paths its node names. Everything below calls down: into the declaration (``stages``), the
cachers (``caching``), the outputs' rules (``core.outputs``), the time limit
(``core.timelimit``) and file transactions (``core.transaction``).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from cfcompile.caching import Lazy
from cfcompile.core import learned, reuse
from cfcompile.core.outputs import declared_cachers, split_outputs, store_in_state
from cfcompile.core.reads import EVERYTHING, watching
from cfcompile.core.reportables import load_cached_reportables, save_reportables
from cfcompile.core.timelimit import StageTimeout, timed_call
from cfcompile.core.transaction import Transaction, terminate_as_exception
from cfcompile.stages import StageSpec, missing_input, params_name
from cfcompile.values import preview

log = logging.getLogger("cfcompile")


class Outcome(StrEnum):
    """What ``run_stage`` did with a stage call."""

    CACHED = "cached"
    RAN = "ran"
    REUSED = "reused"


def run_stage(
    spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict, save: bool = True
) -> Outcome:
    """Run one stage call now, with curifactory's cache rule; ``save=False`` is a dry run
    (cached outputs are still read, nothing is written, every value stays in memory)."""
    inputs = gather_inputs(spec, record, records, kwargs)
    cachers = declared_cachers(spec, record)
    record.stage_cachers = cachers  # what curifactory shows a stage, cached or not
    label = params_name(record) or ("aggregate" if spec.is_aggregate else "None")
    key = eager_key(spec, record, args, kwargs) if save and cachers else None
    base = eager_base(spec, record, args, kwargs) if save and cachers and key is None else None
    cache = record.manager.cache_path
    if base is not None:
        # learned (--reuse): the class of an earlier node it agrees with, for its consumers
        found = learned.find(cache, base, record.params, spec.name)
        key = found[1] if found else None
    if cachers and not record.overwrite_requested() and all(c.check() for c in cachers):
        load_cached(spec, record, cachers)
        log.info("stage %s [%s]: cached", spec.name, label)
        code = stage_code(spec)
        _note_keys(spec, record, key if reuse.written_by(cachers[0], code) else None)
        return Outcome.CACHED
    if base is None and key is None:
        _run_now(spec, record, records, args, inputs, label, cachers, save)
        _note_keys(spec, record, None)
        return Outcome.RAN
    seen: dict = {}

    def compute() -> list[str]:
        return _run_now(spec, record, records, args, inputs, label, cachers, save, seen)

    force = record.overwrite_requested()  # the set's own computation, and the class's source
    if base is None:
        source = reuse.once_per_class(
            cache, key, spec, record, cachers, compute, force, stage_code(spec)
        )
    else:  # learned: the entry looked up above (key is its class), unless forced
        source, key = learned.copy_or_learn(
            cache,
            base,
            spec,
            record,
            cachers,
            lambda: (compute(), seen.get("params_read")),
            stage_code(spec),
            None if force else found,
        )
    if source is not None:
        load_cached(spec, record, cachers)
        log.info("stage %s [%s]: reuses %s", spec.name, label, source.get("params_name"))
    _note_keys(spec, record, key)
    return Outcome.REUSED if source is not None else Outcome.RAN


def _note_keys(spec: StageSpec, record: Any, key: str | None) -> None:
    """The class of each output now in the record's state, with the value's identity: a
    value the experiment puts there by hand afterwards has no class."""
    for name in spec.output_names:
        value = record.state.raw(name) if name in record.state else None
        record.reuse_keys[name] = (key, id(value)) if key is not None else None


def _input_keys(spec: StageSpec, record: Any) -> list[str | None]:
    out: list[str | None] = []
    for name in spec.inputs:
        noted = record.reuse_keys.get(name)
        here = record.state.raw(name) if name in record.state else None
        out.append(noted[0] if noted is not None and noted[1] == id(here) else None)
    return out


def eager_key(spec: StageSpec, record: Any, args: tuple, kwargs: dict) -> str | None:
    """The node's reuse class in an eager run: its inputs' classes are those of the nodes that
    put them in the record's state (``record.reuse_keys``); a value passed in the call has none."""
    if args or kwargs or not reuse.reusable(spec) or not getattr(record.manager, "reuse", True):
        return None
    return reuse.node_key(spec, stage_code(spec), record.params, _input_keys(spec, record))


def eager_base(spec: StageSpec, record: Any, args: tuple, kwargs: dict) -> str | None:
    """Where a stage's learned class starts in an eager run (``--reuse`` only)."""
    if args or kwargs or not getattr(record.manager, "reuse_learned", False):
        return None
    return learned.learned_base(spec, stage_code(spec), _input_keys(spec, record))


def _run_now(
    spec: StageSpec,
    record: Any,
    records: list | None,
    args: tuple,
    inputs: dict,
    label: str,
    cachers: list | None,
    save: bool,
    seen: dict | None = None,
) -> list[str]:
    """Call the stage and (unless dry) publish its outputs; the published paths (and, into
    ``seen``, what the call read)."""
    log.info(
        "stage %s [%s]: running%s", spec.name, label, "" if save else " (dry: nothing is cached)"
    )
    try:
        values, timing = call_stage(spec, record, records, args, inputs, label, cachers=cachers)
    except BaseException:
        log.error("stage %s [%s] raised; none of its outputs were cached", spec.name, label)
        raise
    if seen is not None:
        seen["params_read"] = timing.get("params_read")
    published = save_outputs(spec, record, cachers, values, timing) if save else []
    record.stage_cachers = None
    store_in_state(spec, record, cachers if save else None, values)
    return published


def gather_inputs(spec: StageSpec, record: Any, records: list | None, kwargs: dict) -> dict:
    """Input values as stored (``Lazy`` and trace references untouched), plus call kwargs.

    The tracer gathers them the same way, so a traced node has exactly the inputs an eager
    call would get.
    """
    values: dict[str, Any] = {}
    for name in spec.inputs:
        if spec.is_aggregate:
            per_record = {}
            for other in records:
                if name in other.state:
                    per_record[other] = other.state.raw(name)
                else:
                    log.warning(
                        "aggregate '%s': %s has no artifact '%s'; it is left out of that input",
                        spec.name,
                        other.get_reference_name(),
                        name,
                    )
            values[name] = per_record
        elif name in record.state:
            values[name] = record.state.raw(name)
        elif name not in kwargs and not spec.suppress_missing_inputs:
            raise missing_input(spec, record, name)
    values.update(kwargs)
    return values


def load_cached(spec: StageSpec, record: Any, cachers: list) -> None:
    """A cached stage: its outputs (``Lazy`` ones stay on disk), metadata and reportables."""
    values = []
    for cacher, output in zip(cachers, spec.outputs, strict=True):
        cacher.load_metadata()
        values.append(None if isinstance(output, Lazy) else cacher.load())
    store_in_state(spec, record, cachers, tuple(values))
    load_cached_reportables(record, spec)
    record.stage_cachers = None


def call_stage(
    spec: StageSpec,
    record: Any,
    records: list | None,
    args: tuple,
    inputs: dict,
    label: str,
    on_hard_timeout: Callable[[StageTimeout], None] | None = None,
    cachers: Any = ...,
) -> tuple[tuple, dict]:
    """Call the undecorated function under its time limit; its outputs as a tuple, and timing.

    ``Lazy`` inputs are loaded here, right before the body needs them. ``on_hard_timeout``
    turns on the hard limit (``timelimit.call_with_timeout``): the job runtime passes a
    callback that writes the node's failure record, because the process ends right after it
    returns. ``record.stage_cachers`` holds ``cachers`` (the declared ones, made here when not
    given) while the stage runs, as in curifactory; ``save_outputs`` clears it.
    """
    record.stage_cachers = declared_cachers(spec, record) if cachers is ... else cachers
    resolved = resolve_inputs(spec, inputs)
    seen = []

    def body() -> Any:
        """The call itself, watching what it reads of ``record.params`` (``core.reads``)."""
        with watching(record.params, spec.name, label, spec.uses) as reads:
            seen.append(reads)
            if spec.is_aggregate:
                return spec.func(record, records, **resolved)
            return spec.func(record, *args, **resolved)

    result, timing = timed_call(
        spec.timeout, body, f"stage '{spec.name}' ({label})", on_hard_timeout
    )
    if seen and record.params is not None:
        timing["params_read"] = read_summary(seen[0], record.params, spec.name)
    return split_outputs(spec, result, label), timing


def read_summary(reads: Any, params: Any, stage: str) -> dict:
    """What metadata keeps of a call's reads: the paths, a digest of their representations,
    and what saw everything when something did."""
    fields = reads.summary()
    out: dict[str, Any] = {"fields": fields}
    if fields != [EVERYTHING]:
        try:
            out["digest"] = reuse.reads_digest(params, fields, stage)
        except Exception:  # a representation that fails (a custom hash function): no digest
            out["digest"] = None
    else:
        out["whole"] = reads.everything or "more fields than metadata keeps"
    return out


def resolve_inputs(spec: StageSpec, inputs: dict) -> dict:
    """Load ``Lazy`` artifacts right before a stage body needs them (aggregates: per record)."""
    out = dict(inputs)
    for name in spec.inputs:
        if name not in out:
            continue
        if spec.is_aggregate and isinstance(out[name], dict):
            out[name] = {rec: _resolve(v) for rec, v in out[name].items()}
        else:
            out[name] = _resolve(out[name])
    return out


def _resolve(value: Any) -> Any:
    if isinstance(value, Lazy) and value.resolve:
        return value.load()
    return value


def save_outputs(
    spec: StageSpec, record: Any, cachers: list | None, values: tuple, timing: dict
) -> list[str]:
    """Publish every cached output (and the stage's reportables) together, or none of them.

    Whatever interrupts the save (an error, Ctrl-C, SIGTERM) removes the staging folders; only
    SIGKILL or a lost node leaves them, for ``publish.sweep_stale_staging`` to remove later.
    """
    try:
        published = _save_outputs(spec, record, _seen_cachers(record, cachers), values, timing)
    finally:
        record.stage_cachers = None  # the stage is over (curifactory clears it here too)
    if cachers and published:
        reuse.forget_copy(cachers[0].get_path())
    return published


def _seen_cachers(record: Any, cachers: list | None) -> list | None:
    """The cacher instances the stage saw in ``record.stage_cachers``, saving to ``cachers``' paths.

    curifactory saves with the very instances a stage could read and change (its
    ``extra_metadata``, say). The job runtime builds its savers after the call, pointed at the
    compiled paths; those paths are moved onto the instances the stage saw, which then save.
    """
    seen = getattr(record, "stage_cachers", None)
    if not seen or not cachers or seen is cachers or len(seen) != len(cachers):
        return cachers
    if any(type(mine) is not type(theirs) for mine, theirs in zip(seen, cachers, strict=True)):
        return cachers
    for mine, theirs in zip(seen, cachers, strict=True):
        if mine is not theirs:
            mine.fixed_path = theirs.fixed_path
    return seen


def _save_outputs(
    spec: StageSpec, record: Any, cachers: list | None, values: tuple, timing: dict
) -> list[str]:
    reportables = [
        r for r in record.manager.reportables if r.record is record and r.stage == spec.name
    ]
    if not cachers and not reportables:
        return []
    timing = dict(timing)
    read = timing.pop("params_read", None)
    txn = Transaction()
    # A SIGTERM that would kill the process mid-save (Slurm's time limit, scancel, an eager run
    # without a handler) first unwinds through abort, then ends the process as before.
    with terminate_as_exception(redeliver=True):
        try:
            for cacher, value in zip(cachers or [], values, strict=False):
                cacher.transaction = txn
                cacher.save(value)
                meta = cacher.collect_metadata()
                meta["preview"] = preview(value, 200)
                meta["timing"] = timing
                code = stage_code(spec)
                if code is not None:
                    meta["stage_code"] = code
                if read is not None:
                    meta["params_read"] = read
                cacher.save_metadata()
            if reportables:
                save_reportables(record, spec, reportables, txn)
            return txn.commit()
        except BaseException:
            txn.abort()
            raise
        finally:
            for cacher in cachers or []:
                cacher.transaction = None


def stage_code(spec: StageSpec) -> str | None:
    """md5 of the stage function's source, or None when Python cannot show the source.

    Written into every output's metadata so that ``--dry-run`` can say "the code of stage X
    changed since its cache was written" (and ``--rerun-changed-code`` can act on it): cache
    names follow curifactory's hash of the parameters alone, so nothing else notices an edited
    stage. Computed once per spec: a batch job saves thousands of outputs of one stage.
    """
    cached = spec.__dict__.get("_stage_code", ...)
    if cached is ...:
        try:
            source = inspect.getsource(spec.func)
        except (OSError, TypeError):  # defined in a REPL or by exec: no file to read
            cached = None
        else:
            cached = hashlib.md5(source.encode()).hexdigest()
        spec.__dict__["_stage_code"] = cached
    return cached
