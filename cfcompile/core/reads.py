"""Which fields of ``record.params`` a stage read while it ran, and what it must not do to them.

A stage's outputs can depend only on what it read; the read set is what lets two parameter
sets share one computation (``core.reuse``), and what a ``uses=[...]`` declaration is checked
against. The parameter object is watched, not wrapped: for the call, its class is swapped for
a subclass whose ``__getattribute__`` notes each field read (nested dataclass fields by path,
``data.path``; reaching a nested object notes its class, ``data.__class__``), so
``isinstance``, ``dataclasses.asdict``, ``repr`` and equality behave as before.

- A use that can see every field counts as reading all of them: ``asdict``, ``vars()``,
  ``__dict__``, pickling and copying (of the root: everything; of a nested object: its path).
- An output that holds the parameter object (or a nested one, or an object that holds one)
  counts the same way: it is found before anything is written (``Reads.scan``).
- Each stage call has its own watch, a stage called inside another's body too; the outer call
  is charged with what the inner one read (``Reads.absorb``).
- A read set is incomplete when the process forked during the call (a child shares the object
  without pickling it, and its reads are not seen) or a read arrives after the call returned
  (a thread it started); a spawned process gets the object pickled, which reads everything.
- cfcompile's own reads during the call (metadata, cache paths, a reportable's name) never
  count: the functions that make them are registered with ``internal``.
- Parameters are read-only inside a stage: an assignment raises ``ParameterWriteError`` naming
  the line, and a list or dict field changed in place fails the node when the call returns.
"""

from __future__ import annotations

import gc
import io
import pickle
import sys
import types
from collections.abc import Callable
from typing import Any

from cfcompile import identity
from cfcompile.core import tokens
from cfcompile.core.tokens import CLASS
from cfcompile.errors import StageDefinitionError

EVERYTHING = "*"
"""The read set of a stage that used the whole parameter object."""
MAX_READS = 64
"""Read paths kept in metadata; a stage that reads more is recorded as reading everything."""
WHOLE = frozenset(
    {"__dict__", "__reduce_ex__", "__reduce__", "__getstate__", "__copy__", "__deepcopy__"}
)
"""Attribute names through which a use sees every field at once."""
WHOLE_READERS = frozenset({"dataclasses", "copy", "pickle", "copyreg", "pprint", "json"})
"""Modules whose reads of a field are a walk over all of them (``asdict``, ``deepcopy``)."""


class UndeclaredParameterError(StageDefinitionError):
    """A stage that declares ``uses=[...]`` read a field outside it."""


class ParameterWriteError(StageDefinitionError):
    """A stage changed ``record.params``: its later stages would see the change in one process
    and not in another, so every route refuses."""


class Reads:
    """The paths one stage call read, or the use that saw everything."""

    def __init__(self, stage: str, label: str, declared: list[str] | None) -> None:
        self.stage, self.label, self.declared = stage, label, declared
        self.paths: set[str] = set()
        self.everything: str | None = None  # what saw every field, for --dry-run's reason
        self.incomplete: str | None = None  # why reads may have escaped (fork, late read)
        self.objects: dict[int, str] = {}  # id of a watched object -> its path prefix
        self.seen: dict[int, set[str]] = {}  # id -> attribute names noted (the fast path)
        self.snapshots: dict[str, tuple[Any, str]] = {}  # path -> (mutable value, its digest)
        self.calls: list[str] = []  # stages called inside this one (their files are its too)
        self.returned = False

    # -- what the call did -------------------------------------------------------------------
    def see(self, path: str, line: str | None = None) -> None:
        if self.declared is not None and not covered(path, self.declared):
            shown = path[: -len(CLASS) - 1] if path.endswith("." + CLASS) else path
            at = f" at {line or researcher_line()}"
            raise UndeclaredParameterError(
                f"stage '{self.stage}' [{self.label}] read record.params.{shown}{at}, which "
                f"its uses={self.declared} does not declare; add '{shown}' to uses=[...] (or "
                "drop uses= to let cfcompile learn what the stage reads)"
            )
        self.paths.add(path)
        if self.returned and self.incomplete is None:
            self.incomplete = (
                f"record.params.{path} was read after the stage returned (by a thread it "
                "started?), so what it read is not known"
            )

    def see_whole(self, prefix: str, why: str) -> None:
        """Every field under ``prefix`` (``""``: the whole parameter object) was seen."""
        why = f"{why}, at {researcher_line()}"
        path = prefix.rstrip(".")
        if not path:
            if self.declared is not None:
                raise UndeclaredParameterError(
                    f"stage '{self.stage}' [{self.label}] used the whole parameter object "
                    f"({why}), so it can read more than its uses={self.declared}; read the "
                    "declared fields one by one, or drop uses= from the stage"
                )
            self.everything = self.everything or why
            return
        if self.declared is not None and not covers_whole(path, self.declared):
            raise UndeclaredParameterError(
                f"stage '{self.stage}' [{self.label}] used all of record.params.{path} "
                f"({why}), which its uses={self.declared} does not declare whole; add "
                f"'{path}' to uses=[...]"
            )
        self.paths.add(path)

    def absorb(self, fields: list[str] | None, why: str) -> None:
        """Charge this call with what a stage called inside it read (``None``: not known)."""
        if fields is None or EVERYTHING in fields:
            self.see_whole("", why)
            return
        for path in fields:
            if self.declared is not None and not covered(path, self.declared):
                raise UndeclaredParameterError(
                    f"stage '{self.stage}' [{self.label}] {why}, which read "
                    f"record.params.{path}, outside its uses={self.declared}; add '{path}' "
                    "to uses=[...]"
                )
            self.paths.add(path)

    def forked(self) -> None:
        if self.incomplete is None and not self.returned:
            self.incomplete = (
                f"the process forked while the stage ran (at {researcher_line()}): what the "
                "child read of record.params is not seen"
            )

    # -- after the call ------------------------------------------------------------------------
    def scan(self, values: Any) -> None:
        """An output holding a watched object reads all of it (the copy would carry it)."""
        found = holds(values, dict(self.objects))
        if found is not None:
            self.see_whole(found, f"an output of the stage holds {where(found)}")

    def check_writes(self) -> None:
        """A list, dict or set field changed in place during the call is a write."""
        for path, (value, before) in self.snapshots.items():
            try:
                after = tokens.digest(value)
            except tokens.Unfaithful:
                continue
            if after != before:
                raise ParameterWriteError(
                    f"stage '{self.stage}' [{self.label}] changed record.params.{path} in "
                    "place; parameters are read-only inside a stage (a later stage would see "
                    "the change on one route and not on another): copy the value first"
                )

    def depends(self) -> list[str] | None:
        """The fields the call's outputs depend on; None when that is not known (everything
        was seen, or reads may have escaped the watch)."""
        if self.everything or self.incomplete or len(self.paths) > MAX_READS:
            return None
        return sorted(self.paths)

    def summary(self) -> list[str]:
        """Sorted paths for metadata: ``["*"]`` when everything was (or may have been) read."""
        if self.everything or len(self.paths) > MAX_READS:
            return [EVERYTHING]
        return sorted(self.paths)


def covered(path: str, declared: list[str]) -> bool:
    """A read of ``path`` is within the declaration: a declared path or under one; for the
    nested object on the way to a declared path (``data`` or ``data.__class__`` for
    ``data.path``), its class is read, which the declaration's key holds."""
    if path.endswith("." + CLASS):
        path = path[: -len(CLASS) - 1]
        return any(d == path or d.startswith(path + ".") or path.startswith(d + ".")
                   for d in declared)  # fmt: skip
    return any(path == d or path.startswith(d + ".") for d in declared)


def covers_whole(path: str, declared: list[str]) -> bool:
    return any(path == d or path.startswith(d + ".") for d in declared)


def where(prefix: str) -> str:
    """``record.params`` or ``record.params.data``, from a watched object's path prefix."""
    path = prefix.rstrip(".")
    return "record.params" + ("." + path if path else "")


# -- the researcher's line ------------------------------------------------------------------
_INTERNAL: set[Any] = set()
"""Code objects of cfcompile functions whose reads of the parameters are its own."""
_BOUNDARY: set[Any] = set()
"""Code objects that call a stage body: a read's stack is searched up to them."""


def internal(*functions: Callable) -> None:
    """Register functions whose reads of ``record.params`` are cfcompile's own (metadata, cache
    paths, names): a read made under one of them is never the stage's."""
    for fn in functions:
        _INTERNAL.add(getattr(fn, "__func__", fn).__code__)


def boundary(fn: Callable) -> Callable:
    """Register the function that calls a stage body (the search for ``internal`` callers
    stops there: what the body itself does counts)."""
    _BOUNDARY.add(fn.__code__)
    return fn


def is_internal(frame: Any) -> bool:
    """Whether a read made in ``frame`` is cfcompile's own (an ``internal`` function is on the
    stack below the stage body's ``boundary``)."""
    while frame is not None:
        code = frame.f_code
        if code in _BOUNDARY:
            return False
        if code in _INTERNAL:
            return True
        frame = frame.f_back
    return False


def researcher_line() -> str:
    """file:line of the innermost frame that is the researcher's (not cfcompile's, not the
    standard library's or an installed package's, not generated code)."""
    frame = sys._getframe(1)
    while frame is not None:
        file = frame.f_code.co_filename
        if not file.startswith("<") and identity.is_project_file(file):
            return f"{file}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


# -- outputs that hold the parameters --------------------------------------------------------
class _Found(Exception):
    pass


class _Null(io.RawIOBase):
    def write(self, data: Any) -> int:
        return len(data)

    def writable(self) -> bool:
        return True


def holds(values: Any, watched: dict[int, str]) -> str | None:
    """The path prefix of a watched object that ``values`` holds, if any: what pickling them
    would write (the cachers' view), or for what cannot be pickled, what refers to it."""
    if not watched:
        return None

    class Finder(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if id(obj) in watched:
                raise _Found(watched[id(obj)])
            return NotImplemented

    try:
        Finder(_Null(), protocol=5, buffer_callback=lambda b: None).dump(values)
        return None
    except _Found as found:
        return str(found.args[0])
    except Exception:  # noqa: BLE001 - not picklable: walk the references instead
        return _referents(values, watched)


_SKIP = (type, types.ModuleType, types.CodeType, types.FrameType, str, bytes, int, float)
"""Objects whose references lead everywhere (a class, its module, the whole program) or
nowhere: the walk does not enter them. A function is entered by its closure and defaults."""


def _referents(values: Any, watched: dict[int, str], limit: int = 2_000_000) -> str | None:
    todo, seen = [values], set()
    while todo:
        obj = todo.pop()
        if id(obj) in watched:
            return watched[id(obj)]
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):  # never its globals: the whole module
            todo.extend(c.cell_contents for c in obj.__closure__ or () if _full(c))
            todo.extend(obj.__defaults__ or ())
            continue
        if len(seen) > limit:
            return ""  # too much to walk: counted as holding everything
        todo.extend(gc.get_referents(obj))
    return None


def _full(cell: Any) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:
        return False
    return True
