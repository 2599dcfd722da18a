"""A stage's outputs: the cacher each one is saved with, the returned value split into
outputs, and the outputs put into the record's state.

Every route asks the same questions: the tracer (which files will a node write), the eager
engine (is it cached, where does it go), the job runtime (where to publish, where to read an
input from), the planner (where the metadata is). The answers are curifactory's rules, kept
here once.
"""

from __future__ import annotations

from typing import Any

from cfcompile.caching import Cacheable, Lazy, PickleCacher, instantiate
from cfcompile.core.learned import class_of
from cfcompile.core.reportable_files import save_reportables
from cfcompile.core.reuse_store import BASE, CLASS, IDENTITY, forget_copy
from cfcompile.core.transaction import Transaction, terminate_as_exception
from cfcompile.errors import OutputSignatureError
from cfcompile.stages import StageSpec
from cfcompile.values import preview


def output_cacher(spec: StageSpec, record: Any, index: int) -> Cacheable:
    """A fresh cacher for one output, bound to ``record``.

    Outputs of a stage declared without cachers still cross job boundaries in a compiled
    workflow; they get a PickleCacher (docs/compiling.md).
    """
    template = spec.cachers[index] if spec.cachers is not None else PickleCacher
    cacher = instantiate(template)
    cacher.set_record(record)
    cacher.stage = spec.name
    # curifactory's two rules, kept as they are: a stage always names the cacher after
    # its output; an aggregate only when it has neither a name nor a path override
    if not spec.is_aggregate or (cacher.name is None and cacher.path_override is None):
        cacher.name = str(spec.outputs[index])
    return cacher


def output_cachers(spec: StageSpec, record: Any) -> list[Cacheable]:
    """One cacher per output, declared or default: what compiled workflows persist with."""
    return [output_cacher(spec, record, i) for i in range(len(spec.outputs))]


def declared_cachers(spec: StageSpec, record: Any) -> list[Cacheable] | None:
    """The declared cachers, fresh and bound to ``record``; None when none are declared.

    This is the eager rule (a stage without cachers is not cached, as in curifactory).
    """
    return None if spec.cachers is None else output_cachers(spec, record)


def split_outputs(spec: StageSpec, result: Any, params_name: str | None) -> tuple:
    """The returned value as one value per declared output (a non-tuple is one output)."""
    n = len(spec.outputs)
    if n == 0:
        return ()
    values = result if isinstance(result, tuple) else (result,)
    if len(values) != n:
        raise OutputSignatureError(
            f"stage '{spec.name}' ({spec.location}), parameter set '{params_name}': declares "
            f"{n} output(s) {spec.outputs!r} but returned {len(values)} value(s). Return "
            f"a tuple of {n} values in that order" + (" (or `return (value,)`)." if n == 1 else ".")
        )
    return values


def store_in_state(spec: StageSpec, record: Any, cachers: list | None, values: tuple) -> None:
    """The outputs into ``record.state``; a ``Lazy`` output is kept as a reference to its cacher
    (without ``cachers``, nothing was saved: a dry run keeps every value in memory)."""
    for i, output in enumerate(spec.outputs):
        if isinstance(output, Lazy) and cachers:
            lazy = Lazy(output.name, output.resolve)
            lazy.cacher = cachers[i]
            record.state[output.name] = lazy
        else:
            record.state[str(output)] = values[i]
    record.output = values[0] if len(values) == 1 else (values if values else None)


def save_outputs(
    spec: StageSpec,
    record: Any,
    cachers: list | None,
    values: tuple,
    timing: dict,
    tags: dict | None = None,
) -> list[str]:
    """Publish every cached output (and the stage's reportables) together, or none of them;
    ``tags`` go into each output's metadata (the reuse class a node computed for).

    Whatever interrupts the save (an error, Ctrl-C, SIGTERM) removes the staging folders; only
    SIGKILL or a lost node leaves them, for ``transaction.sweep_stale_staging`` to remove later.
    """
    try:
        seen = _seen_cachers(record, cachers)
        published = _save_outputs(spec, record, seen, values, timing, tags or {})
    finally:
        record.stage_cachers = None  # the stage is over (curifactory clears it here too)
    if cachers and published:
        forget_copy(cachers[0].get_path())
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
    spec: StageSpec, record: Any, cachers: list | None, values: tuple, timing: dict, tags: dict
) -> list[str]:
    reportables = [
        r for r in record.manager.reportables if r.record is record and r.stage == spec.name
    ]
    if not cachers and not reportables:
        return []
    timing = dict(timing)
    read = timing.pop("params_read", None)
    own = metadata_tags(tags, read)
    code, whole = spec.code, spec.identity
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
                if code is not None:
                    meta["stage_code"] = code
                meta[IDENTITY] = whole
                if read is not None:
                    meta["params_read"] = read
                meta.update(own)
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


def metadata_tags(tags: dict, read: dict | None) -> dict:
    """What a node's reuse adds to its outputs' metadata: its class; a learned node's is made
    from its base and what it read, once that is known whole."""
    own = {k: v for k, v in tags.items() if k != BASE}
    base = tags.get(BASE)
    if base is not None and isinstance(read, dict) and isinstance(read.get("digest"), str):
        if not (read.get("whole") or read.get("incomplete")):
            own[CLASS] = class_of(base, read["fields"], read["digest"])
    return own
