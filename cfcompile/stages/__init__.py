"""``@stage`` and ``@aggregate``: one declaration (``StageSpec``) that every engine reads.

Calling a decorated function hands the record and the spec to the engine of the record's
manager (eager, trace, ...). An aggregate is a stage whose inputs come from many records; both
share every code path here, differing only in how inputs are gathered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property, wraps
from typing import Any, Protocol

from cfcompile import identity as code_identity
from cfcompile.caching import Lazy, PickleCacher
from cfcompile.errors import (
    CachersMismatchError,
    EmptyCachersError,
    ExecutingWithSkippedInputError,
    InputSignatureError,
    OutputSignatureError,
    StageDefinitionError,
)
from cfcompile.stages.checks import check_call, missing_input, params_name, signature_gaps

__all__ = [
    "check_call",
    "missing_input",
    "params_name",
    "signature_gaps",
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
    spec = as_run_by(spec, record.manager)
    check_call(spec, record, kwargs)
    result = record.manager.engine.call(spec, record, records, args, kwargs)
    if getattr(record, "unstored_tracked_paths", None):  # store_full: the run folder's copy
        record.store_tracked_paths()
    return result


def as_run_by(spec: StageSpec, manager: Any) -> StageSpec:
    """The stage as ``manager`` runs it: with ``ignore_lazy`` every ``Lazy`` output is a plain
    one (kept in memory; a ``Lazy`` without cachers is then no error), with ``lazy`` every
    output is ``Lazy`` and a stage without cachers pickles them (curifactory's manager flags).
    """
    if getattr(manager, "ignore_lazy", False):
        key = "ignore_lazy"
    elif getattr(manager, "lazy", False):
        key = "lazy"
    else:
        return spec
    variants = spec.__dict__.setdefault("_variants", {})
    if key not in variants:
        if key == "ignore_lazy":
            outputs: list[str | Lazy] = [str(o) for o in spec.outputs]
            variant = replace(spec, outputs=outputs)
        else:
            outputs = [o if isinstance(o, Lazy) else Lazy(o) for o in spec.outputs]
            cachers = spec.cachers if spec.cachers is not None else [PickleCacher] * len(outputs)
            variant = replace(spec, outputs=outputs, cachers=cachers)
        variants[key] = variant
    return variants[key]
