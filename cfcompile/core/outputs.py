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
from cfcompile.errors import OutputSignatureError
from cfcompile.stages import StageSpec


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
