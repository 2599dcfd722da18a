"""What curifactory checks when a stage is called, before it runs, with its exception classes.

``check_call`` runs for every call of a decorated stage (eager, dry and under the tracer), so a
mistake in a stage's declaration or signature fails the way it fails under curifactory: at
call time, never at import.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from cfcompile.caching import Cacheable, Lazy
from cfcompile.errors import (
    CachersMismatchError,
    EmptyCachersError,
    InputSignatureError,
    LazyWithoutCachersError,
    StageDefinitionError,
    StageInputError,
)


def _declaration_error(spec: Any) -> Exception | None:
    """What is wrong with the declaration itself, found once per stage and raised at each call.

    Raised when the stage is called, never at import, as curifactory does: a module that
    imports under curifactory (say, with a broken stage nobody calls) imports here too. The
    checks run in curifactory's order (``Lazy`` without cachers, then the cacher count) so the
    same mistake gets the same exception class.
    """
    where = f"stage '{spec.name}' ({spec.location})"
    for name in spec.outputs:
        if not isinstance(name, str | Lazy):
            return StageDefinitionError(f"{where}: outputs must be strings or Lazy, got {name!r}")
    if spec.cachers is None and any(isinstance(o, Lazy) for o in spec.outputs):
        return LazyWithoutCachersError(
            f"{where}: Lazy outputs need cachers (they are reloaded from the cache on access)"
        )
    if spec.cachers is not None and len(spec.cachers) != len(spec.outputs):
        return CachersMismatchError(
            f"{where}: {len(spec.cachers)} cacher(s) for {len(spec.outputs)} output(s) "
            f"{spec.output_names}; give exactly one cacher per output, in order"
        )
    for cacher in spec.cachers or []:
        ok = isinstance(cacher, Cacheable) or (
            isinstance(cacher, type) and issubclass(cacher, Cacheable)
        )
        if not ok:
            return StageDefinitionError(f"{where}: {cacher!r} is not a Cacheable class or instance")
    if len(set(spec.output_names)) != len(spec.output_names):
        return StageDefinitionError(f"{where}: duplicate output names {spec.output_names}")
    return None


def signature_gaps(
    function: Callable, input_names: list[str], given: Any
) -> tuple[list[str], list[str]]:
    """The inputs ``function`` does not take by name, and those it takes without a default
    that are not in ``given`` (found in the record or passed): curifactory's two checks, so a
    stage fails the way it fails there (``InputSignatureError``) before it runs."""
    params = inspect.signature(function).parameters
    missing = [name for name in input_names if name not in params]
    no_default = [
        name
        for name, param in params.items()
        if name in input_names
        and param.default is inspect.Parameter.empty
        and name not in given
        and name not in missing
    ]
    return missing, no_default


def _signature_error(spec: Any, given: set[str]) -> Exception | None:
    """What curifactory checks once the inputs are gathered (``given``: found or passed)."""
    where = f"stage '{spec.name}' ({spec.location})"
    missing, no_default = signature_gaps(spec.func, spec.inputs, given)
    params = inspect.signature(spec.func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        missing = []  # ``**kwargs`` takes every input by name (cfcompile accepts it)
    if missing:
        return InputSignatureError(
            f"{where}: input(s) {missing} are not parameters of the function; the function must "
            f"take them by name, e.g. def {spec.name}(record, {', '.join(spec.inputs)})"
        )
    if spec.suppress_missing_inputs and no_default:
        return InputSignatureError(
            f"{where}: suppress_missing_inputs is set, but input(s) {no_default} are missing "
            "and have no default value in the function's signature; give them defaults "
            "(def f(record, x=None)) or pass them in the call"
        )
    if spec.cachers is not None and len(spec.cachers) == 0:
        return EmptyCachersError(
            f"{where}: cachers=[] would mark the stage cached forever; use cachers=None "
            "for no caching or give one cacher per output"
        )
    return None


def check_call(spec: Any, record: Any, kwargs: dict) -> None:
    """Everything curifactory checks when a stage is called, before deciding to run it.

    In curifactory's order and with its exception classes: the declaration
    (``OutputSignatureError``, ``CachersMismatchError``), a missing input (a ``KeyError``),
    the function's signature (``InputSignatureError``), ``cachers=[]``
    (``EmptyCachersError``). Under the tracer this runs at compile time, for every call.
    """
    if not spec.__dict__.get("_declaration_ok"):  # checked once per stage when it is fine
        error = _declaration_error(spec)
        if error is not None:
            raise error
        spec.__dict__["_declaration_ok"] = True
    given = set(kwargs)
    if not spec.is_aggregate:
        for name in spec.inputs:
            if name in record.state:
                given.add(name)
            elif name not in kwargs and not spec.suppress_missing_inputs:
                raise missing_input(spec, record, name)
    else:
        given.update(spec.inputs)  # each is a dict of whatever the records hold
    key = frozenset(given)
    passed = spec.__dict__.setdefault("_signature_ok", set())
    if key in passed:  # a traced sweep calls each stage with the same inputs 10,000s of times
        return
    error = _signature_error(spec, given)
    if error is not None:
        raise error
    passed.add(key)


def missing_input(spec: Any, record: Any, name: str) -> StageInputError:
    have = sorted(record.state) or "nothing"
    return StageInputError(
        f"stage '{spec.name}' ({spec.location}), parameter set '{params_name(record)}': "
        f"input '{name}' is not in the record's state (it holds: {have}). Run the stage "
        "that outputs it on this record first, or pass it as a keyword argument."
    )


def params_name(record: Any) -> str | None:
    return record.params.name if record.params is not None else None
