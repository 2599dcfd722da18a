"""``@stage`` and ``@aggregate``: one declaration (``StageSpec``) that every engine reads.

Calling a decorated function hands the record and the spec to the engine of the record's
manager (eager, trace, ...). An aggregate is a stage whose inputs come from many records; both
share every code path here, differing only in how inputs are gathered.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, wraps
from typing import Any, Protocol

from cfcompile import identity as code_identity
from cfcompile.caching import Cacheable, Lazy
from cfcompile.errors import (
    CachersMismatchError,
    EmptyCachersError,
    ExecutingWithSkippedInputError,
    InputSignatureError,
    LazyWithoutCachersError,
    OutputSignatureError,
    StageDefinitionError,
    StageInputError,
)

__all__ = [
    "CachersMismatchError",
    "EmptyCachersError",
    "ExecutingWithSkippedInputError",
    "InputSignatureError",
    "OutputSignatureError",
    "StageEngine",
    "StageKind",
    "StageSpec",
    "aggregate",
    "stage",
]


class StageKind(StrEnum):
    """A stage runs on one record; an aggregate on many (its inputs arrive per record)."""

    STAGE = "stage"
    AGGREGATE = "aggregate"


class StageEngine(Protocol):
    """What calling a decorated stage means: run it now (eager), record a node (trace), ...

    ``ArtifactManager.engine`` holds one; the decorator hands it the stage's declaration and
    the call, and returns what it returns (the record, as curifactory's stages do). Engines:
    ``runtime.eager.EagerEngine`` and ``DryEagerEngine``, ``compiler.trace.TraceEngine``.
    """

    def call(
        self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict
    ) -> Any: ...


class EngineFactories:
    """The engine a new ArtifactManager gets (eager, or ``dry=True``): registered by
    ``cfcompile/__init__.py``, so the researcher API never imports the runtime layer."""

    eager: Callable[[], StageEngine] | None = None
    dry: Callable[[], StageEngine] | None = None


def register_engines(eager: Callable[[], StageEngine], dry: Callable[[], StageEngine]) -> None:
    EngineFactories.eager, EngineFactories.dry = eager, dry


def default_engine(dry: bool = False) -> StageEngine:
    factory = EngineFactories.dry if dry else EngineFactories.eager
    if factory is None:  # pragma: no cover - cfcompile/__init__ always registers them
        raise RuntimeError("no stage engine registered: import cfcompile first")
    return factory()


@dataclass
class StageSpec:
    """Everything declared about a stage; the undecorated function is ``func``."""

    func: Any
    kind: StageKind
    inputs: list[str]
    outputs: list[str | Lazy]
    cachers: list | None
    suppress_missing_inputs: bool = False
    resources: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    timeout: float | None = None
    retries: int = 0
    metrics: list[str] = field(default_factory=list)
    uses: list[str] | None = None
    """The ``record.params`` fields (``data.path`` for nested ones) the stage reads; checked
    at every run, and what lets sets that agree on them share one computation."""
    reuse: bool = True

    @property
    def name(self) -> str:
        return self.func.__name__

    @property
    def is_aggregate(self) -> bool:
        return self.kind == StageKind.AGGREGATE

    @property
    def output_names(self) -> list[str]:
        return [str(o) for o in self.outputs]

    @property
    def location(self) -> str:
        """``file:line`` of the function, for error messages."""
        try:
            code = self.func.__code__
            return f"{code.co_filename}:{code.co_firstlineno}"
        except AttributeError:
            return getattr(self.func, "__module__", "?")

    @property
    def import_path(self) -> str:
        return f"{self.func.__module__}:{self.func.__qualname__}"

    @cached_property
    def code(self) -> str | None:
        """md5 of the function's source: metadata's ``stage_code`` (``--rerun-changed-code``)."""
        return code_identity.source_digest(self.func)

    @cached_property
    def identity(self) -> str:
        """The stage for reuse (metadata's ``code_identity``): ``identity.stage_identity``."""
        return code_identity.stage_identity(self.func, self.import_path, self.outputs, self.cachers)


def _check_metrics(spec: StageSpec) -> None:
    """At decoration: ``metrics`` is cfcompile's own keyword, so no curifactory module has it."""
    unknown = [m for m in spec.metrics if m not in {str(o) for o in spec.outputs}]
    if unknown:
        raise StageDefinitionError(
            f"stage '{spec.name}' ({spec.location}): metrics {unknown} are not outputs of the stage"
        )


def _check_uses(function: Any, uses: Any) -> list[str] | None:
    """At decoration: ``uses`` is cfcompile's own keyword, a list of dotted field paths."""
    if uses is None:
        return None
    if isinstance(uses, str) or not all(isinstance(u, str) and u for u in uses):
        raise StageDefinitionError(
            f"stage '{function.__name__}': uses= takes a list of field names such as "
            f"['seed', 'data.path'], got {uses!r}"
        )
    return sorted(set(uses))


def _declaration_error(spec: StageSpec) -> Exception | None:
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


def _signature_error(spec: StageSpec, given: set[str]) -> Exception | None:
    """What curifactory checks once the inputs are gathered (``given``: found or passed)."""
    where = f"stage '{spec.name}' ({spec.location})"
    params = spec.__dict__.get("_parameters")
    if params is None:  # once per stage: a traced sweep calls a stage 10,000s of times
        params = spec.__dict__["_parameters"] = inspect.signature(spec.func).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    missing = [i for i in spec.inputs if i not in params and not takes_kwargs]
    if missing:
        return InputSignatureError(
            f"{where}: input(s) {missing} are not parameters of the function; the function must "
            f"take them by name, e.g. def {spec.name}(record, {', '.join(spec.inputs)})"
        )
    if spec.suppress_missing_inputs:
        no_default = [
            i
            for i in spec.inputs
            if i in params and params[i].default is inspect.Parameter.empty and i not in given
        ]
        if no_default:
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


def check_call(spec: StageSpec, record: Any, kwargs: dict) -> None:
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


def missing_input(spec: StageSpec, record: Any, name: str) -> StageInputError:
    have = sorted(record.state) or "nothing"
    return StageInputError(
        f"stage '{spec.name}' ({spec.location}), parameter set '{params_name(record)}': "
        f"input '{name}' is not in the record's state (it holds: {have}). Run the stage "
        "that outputs it on this record first, or pass it as a keyword argument."
    )


def _declare(
    kind: StageKind,
    inputs,
    outputs,
    cachers,
    suppress,
    resources,
    threads,
    timeout,
    retries,
    metrics,
    uses=None,
    reuse=True,
):
    def decorator(function: Any) -> Any:
        spec = StageSpec(
            func=function,
            kind=kind,
            inputs=list(inputs or []),
            outputs=list(outputs or []),
            cachers=list(cachers) if cachers is not None else None,
            suppress_missing_inputs=suppress,
            resources=dict(resources or {}),
            threads=int(threads),
            timeout=timeout,
            retries=int(retries),
            metrics=list(metrics or []),
            uses=_check_uses(function, uses),
            reuse=bool(reuse),
        )
        _check_metrics(spec)

        if kind == StageKind.STAGE:

            @wraps(function)
            def wrapper(record: Any, *args: Any, **kwargs: Any) -> Any:
                return dispatch(spec, record, None, args, kwargs)

        else:

            @wraps(function)
            def wrapper(record: Any, records: list | None = None, **kwargs: Any) -> Any:
                return dispatch(spec, record, records, (), kwargs)

        wrapper.spec = spec
        return wrapper

    return decorator


def stage(
    inputs: list[str] | None = None,
    outputs: list[str | Lazy] | None = None,
    cachers: list | None = None,
    suppress_missing_inputs: bool = False,
    resources: dict[str, Any] | None = None,
    threads: int = 1,
    timeout: float | None = None,
    retries: int = 0,
    metrics: list[str] | None = None,
    uses: list[str] | None = None,
    reuse: bool = True,
) -> Any:
    """Declare a stage: inputs read from ``record.state``, outputs written back to it.

    ``resources`` (mem_mb, runtime in minutes, gpu, ...) and ``threads`` reach the scheduler of a
    compiled workflow; they do not change what the stage computes, so they are not hashed.
    ``timeout`` (seconds) stops a stage that runs too long; ``retries`` reruns a failed one;
    ``metrics`` names outputs that go into the results table whatever their cacher.
    ``uses`` declares the parameters the stage reads (and that it is deterministic given them
    and its inputs): sets that agree on them compute it once (docs/semantics.md, "Reuse");
    ``reuse=False`` keeps a declaring stage from being merged.
    """
    return _declare(
        StageKind.STAGE,
        inputs,
        outputs,
        cachers,
        suppress_missing_inputs,
        resources,
        threads,
        timeout,
        retries,
        metrics,
        uses,
        reuse,
    )


def aggregate(
    inputs: list[str] | None = None,
    outputs: list[str | Lazy] | None = None,
    cachers: list | None = None,
    resources: dict[str, Any] | None = None,
    threads: int = 1,
    timeout: float | None = None,
    retries: int = 0,
    metrics: list[str] | None = None,
) -> Any:
    """Declare a stage over many records: each input arrives as ``{record: value}``."""
    return _declare(
        StageKind.AGGREGATE,
        inputs,
        outputs,
        cachers,
        False,
        resources,
        threads,
        timeout,
        retries,
        metrics,
    )


def dispatch(spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
    if not (hasattr(record, "manager") and hasattr(record, "state")):
        raise TypeError(
            f"stage '{spec.name}' must be called with a Record as its first argument, got "
            f"{type(record).__name__}"
        )
    if spec.is_aggregate:
        if records is None:
            records = [r for r in record.manager.records if r is not record]
        record.input_records = list(records)
        record.set_aggregate(records)
    record.manager.current_stage_name = spec.name
    record.stages.append(spec.name)
    check_call(spec, record, kwargs)
    return record.manager.engine.call(spec, record, records, args, kwargs)


def params_name(record: Any) -> str | None:
    return record.params.name if record.params is not None else None
