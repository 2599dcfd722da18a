"""One stage call, top to bottom: shared by the eager engines and the job runtime.

``run_stage`` is curifactory's live rule, read in order: gather the inputs, make the cachers,
and either load every output from the cache, copy them from an equivalent set's
(``core.reuse``), or compute: call the function under its time limit, watching what it reads
of ``record.params`` (``core.reads``), and publish the outputs (and the stage's reportables)
together. The job runtime calls the same ``compute`` with the inputs and paths its node
names. Everything below calls down: into the declaration (``stages``), the cachers
(``caching``), the outputs' rules (``core.outputs``), the time limit (``core.timelimit``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from contextlib import nullcontext
from enum import StrEnum
from typing import Any

from cfcompile.caching import Cacheable, Lazy
from cfcompile.core import checkpoint as checkpoints
from cfcompile.core import reads as watch
from cfcompile.core import reuse
from cfcompile.core.outputs import declared_cachers, save_outputs, split_outputs, store_in_state
from cfcompile.core.reads import EVERYTHING, Reads
from cfcompile.core.reportable_files import load_cached_reportables, save_reportables
from cfcompile.core.timelimit import StageTimeout, timed_call
from cfcompile.core.tokens import reads_digest
from cfcompile.core.watch import active, watching
from cfcompile.record import Record
from cfcompile.stages import StageSpec, check_call, dispatch, missing_input, params_name
from cfcompile.values import preview

log = logging.getLogger("cfcompile")

# cfcompile's own reads of a set's parameters while a stage runs: never the stage's
watch.internal(
    Cacheable.collect_metadata,
    Cacheable.get_path,
    Cacheable.final_path,
    Record.report,
    Record.__init__,
    save_reportables,
    preview,
    dispatch,
    check_call,
    checkpoints.checkpoint,
)


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
    if active() is not None:
        return _run_nested(spec, record, records, args, kwargs, save)
    return _run_stage(spec, record, records, args, kwargs, save)[0]


def _run_nested(
    spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict, save: bool
) -> Outcome:
    """A stage called inside another stage's body: it has a watch of its own, and the outer
    call is charged with what it read (or, cached or copied, what its outputs depend on).
    Registered as ``internal``: its bookkeeping's reads are not the outer stage's."""
    outer = active()
    outer.calls.append(spec.name)  # a copy of the outer's outputs would not write the inner's
    outcome, depends = _run_stage(spec, record, records, args, kwargs, save)
    outer.absorb(depends, f"called stage '{spec.name}'")
    return outcome


watch.internal(_run_nested)


def _run_stage(
    spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict, save: bool
) -> tuple[Outcome, list[str] | None]:
    """The call, and the fields its outputs depend on (None: not known)."""
    inputs = gather_inputs(spec, record, records, kwargs)
    cachers = declared_cachers(spec, record)
    record.stage_cachers = cachers  # what curifactory shows a stage, cached or not
    label = params_name(record) or ("aggregate" if spec.is_aggregate else "None")
    decision = reuse.NONE
    if save and cachers:
        handed = None if args or kwargs else _input_keys(spec, record)
        decision = reuse.decide(spec, record.params, handed, reuse.settings(record.manager))
    cache = record.manager.cache_path
    if cachers and not record.overwrite_requested() and all(c.check() for c in cachers):
        load_cached(spec, record, cachers)
        log.info("stage %s [%s]: cached", spec.name, label)
        meta = cachers[0].metadata
        _note_keys(spec, record, reuse.cached_class(decision, spec, meta, cache, record.params))
        return Outcome.CACHED, reuse.depends_on(spec, meta)
    if decision.mode is reuse.Mode.NONE:
        ran = compute(spec, record, records, args, inputs, label, cachers, save=save)
        store_in_state(spec, record, cachers if save else None, ran.values)
        _note_keys(spec, record, None)
        return Outcome.RAN, ran.reads.depends()
    computed: list[Computed] = []

    def run(tags: dict) -> tuple[list[str], Reads]:
        done = compute(spec, record, records, args, inputs, label, cachers, scan=True, tags=tags)
        computed.append(done)
        return done.published, done.reads

    force = record.overwrite_requested()  # the set's own computation, and the class's source
    source, key = reuse.run(decision, spec, record, cachers, run, force, cache)
    if source is None:
        store_in_state(spec, record, cachers, computed[0].values)
        _note_keys(spec, record, key)
        return Outcome.RAN, computed[0].reads.depends()
    load_cached(spec, record, cachers)
    _note_keys(spec, record, key)
    log.info("stage %s [%s]: reuses %s", spec.name, label, source.get("params_name"))
    return Outcome.REUSED, reuse.copied_reads(spec, source)


def _note_keys(spec: StageSpec, record: Any, key: str | None) -> None:
    """The class of each output now in the record's state, with the value's identity: a
    value the experiment puts there by hand afterwards has no class."""
    for name in spec.output_names:
        value = record.state.raw(name) if name in record.state else None
        record.reuse_keys[name] = (key, id(value)) if key is not None else None


def _input_keys(spec: StageSpec, record: Any) -> dict[str, str | None]:
    """Each input's class: that of the node that put it in the record's state."""
    out: dict[str, str | None] = {}
    for name in spec.inputs:
        noted = record.reuse_keys.get(name)
        here = record.state.raw(name) if name in record.state else None
        out[name] = noted[0] if noted is not None and noted[1] == id(here) else None
    return out


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


class Computed:
    """What one computation of a node gave: its values, timing, published files and reads."""

    def __init__(self, values: tuple, timing: dict, published: list[str], reads: Reads):
        self.values, self.timing, self.published, self.reads = values, timing, published, reads


def compute(
    spec: StageSpec,
    record: Any,
    records: list | None,
    args: tuple,
    inputs: dict,
    label: str,
    cachers: list | None,
    save: bool = True,
    scan: bool = False,
    on_hard_timeout: Callable[[StageTimeout], None] | None = None,
    printed: Callable[[], Any] | None = None,
    tags: dict | None = None,
) -> Computed:
    """Call the stage under its watch and (unless dry) publish its outputs.

    The watch spans the call and the save: a read that arrives after the call returned (a
    thread it started) makes the read set incomplete, an output holding the parameters is
    found before anything is written (``scan``: for nodes that may be merged, and always for
    a stage that declares ``uses=``, whose declaration is checked on every route), and a
    parameter changed in place fails the node before its outputs are published.
    """
    log.info(
        "stage %s [%s]: running%s", spec.name, label, "" if save else " (dry: nothing is cached)"
    )
    overwrite = bool(getattr(record, "overwrite_requested", lambda: False)())
    with (  # the checkpoint's key (the set's hash) is read before the watch begins
        checkpoints.running(spec.name, spec.code, record, overwrite, not save) as node_run,
        watching(record.params, spec.name, label, spec.uses) as reads,
    ):
        try:
            with printed() if printed else nullcontext():
                values, timing = call_stage(
                    spec, record, records, args, inputs, label, on_hard_timeout, cachers
                )
            if node_run.opened is not None:  # metadata says it checkpoints (--dry-run shows it)
                timing["checkpoint"] = checkpoint_summary(node_run.opened)
            reads.returned = True
            if scan or spec.uses is not None:  # a declaration is checked on every route
                reads.scan(values)
            reads.check_writes()
        except checkpoints.Interrupted as exc:
            log.warning("stage %s [%s]: %s; its checkpoint is saved: it resumes in its next "
                        "attempt", spec.name, label, exc.why)  # fmt: skip
            raise
        except BaseException:
            log.error("stage %s [%s] raised; none of its outputs were cached", spec.name, label)
            raise
        if record.params is not None:
            timing["params_read"] = read_summary(reads, record.params, spec.name)
        published = save_outputs(spec, record, cachers, values, timing, tags) if save else []
        if save and node_run.opened is not None:
            node_run.opened.finished()  # published: the checkpoint has served
    record.stage_cachers = None
    return Computed(values, timing, published, reads)


def checkpoint_summary(ckpt: checkpoints.Checkpoint) -> dict:
    """What metadata keeps of a node's checkpoint: that it had one, and its attempts."""
    ended = [a.get("ended") for a in ckpt.attempts[:-1]]
    lost = sum(a.get("lost_s") or 0 for a in ckpt.attempts[:-1])
    return {"saves": ckpt.meta.get("saves", 0), "attempts": len(ckpt.attempts),
            "interruptions": ended, "lost_s": round(lost, 1)}  # fmt: skip


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
    resolved = resolve_inputs(spec, inputs, record.params)
    result, timing = timed_call(
        spec.timeout,
        lambda: _stage_body(spec, record, records, args, resolved),
        f"stage '{spec.name}' ({label})",
        on_hard_timeout,
    )
    return split_outputs(spec, result, label), timing


@watch.boundary
def _stage_body(spec: StageSpec, record: Any, records: list | None, args: tuple, resolved: dict):
    """The researcher's function itself: what it reads (below this frame) is the stage's."""
    if spec.is_aggregate:
        return spec.func(record, records, **resolved)
    return spec.func(record, *args, **resolved)


def read_summary(reads: Reads, params: Any, stage: str) -> dict:
    """What metadata keeps of a call's reads: the paths, a digest of their values, and what
    saw everything or made the read set incomplete, when something did."""
    fields = reads.summary()
    out: dict[str, Any] = {"fields": fields}
    if fields == [EVERYTHING]:
        out["whole"] = reads.everything or "more fields than metadata keeps"
        return out
    try:
        out["digest"] = reads_digest(params, fields, stage)
    except Exception as exc:  # noqa: BLE001 - a value with no faithful encoding: no digest
        out["digest"] = None
        out["unmergeable"] = str(exc)
    if reads.incomplete:
        out["incomplete"] = reads.incomplete
    return out


def resolve_inputs(spec: StageSpec, inputs: dict, params: Any = None) -> dict:
    """Load ``Lazy`` artifacts right before a stage body needs them (aggregates: per record).
    An input that is or holds the set's own parameter object (an earlier stage returned
    ``record.params``, or a box around it) arrives as a copy, as it does from the cache in a
    compiled run: an input is a value, and reading it is no read of ``record.params``."""
    out = dict(inputs)
    for name in spec.inputs:
        if name not in out:
            continue
        if spec.is_aggregate and isinstance(out[name], dict):
            out[name] = {rec: _resolve(v) for rec, v in out[name].items()}
        else:
            out[name] = _resolve(out[name])
        if params is not None and _holds(out[name], params, 2):
            out[name] = copy.deepcopy(out[name])
    return out


def _holds(value: Any, params: Any, depth: int) -> bool:
    """``value`` is ``params`` or holds it within ``depth`` levels of containers, fields or
    attributes (a cheap look: a compiled run's cache round trip copies at any depth)."""
    if value is params:
        return True
    if depth == 0 or isinstance(value, str | bytes | int | float | type):
        return False
    if isinstance(value, list | tuple | set | frozenset):
        items = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        items = getattr(value, "__dict__", None)
        items = items.values() if isinstance(items, dict) else ()
    if len(items) > 1000:
        return False
    return any(_holds(v, params, depth - 1) for v in items)


def _resolve(value: Any) -> Any:
    if isinstance(value, Lazy) and value.resolve:
        return value.load()
    return value
