"""Which fields of ``record.params`` a stage read while it ran.

A stage's outputs can depend only on what it read; the read set is what lets two parameter
sets share one computation (``core.reuse``), and what a ``uses=[...]`` declaration is checked
against. The parameter object is watched, not wrapped: for the call, its class is swapped for
a subclass whose ``__getattribute__`` notes each field read (nested dataclass fields by path,
``data.path``), so ``isinstance``, ``dataclasses.asdict``, ``repr`` and equality behave as
before. A use that can see every field counts as reading everything: ``asdict``, ``repr`` and
``==`` read each field; ``vars()``, ``__dict__``, pickling and copying are seen by name.
Reads made through cfcompile's helpers during the call count too (``record.get_path`` reads
the set's name: outputs that hold such a path are the set's own).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import is_dataclass
from typing import Any

from cfcompile.errors import StageDefinitionError
from cfcompile.hashing import field_names

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


class Reads:
    """The paths one stage call read, or the use that saw everything."""

    def __init__(self, stage: str, label: str, declared: list[str] | None) -> None:
        self.stage, self.label, self.declared = stage, label, declared
        self.paths: set[str] = set()
        self.everything: str | None = None  # what saw every field, for --dry-run's reason
        self.objects: dict[int, str] = {}  # id of a watched object -> its path prefix

    def see(self, path: str) -> None:
        if self.declared is not None and not _covered(path, self.declared):
            raise UndeclaredParameterError(
                f"stage '{self.stage}' [{self.label}] read record.params.{path}, which its "
                f"uses={self.declared} does not declare; add '{path}' to uses=[...] (or drop "
                "uses= to let cfcompile learn what the stage reads)"
            )
        self.paths.add(path)

    def see_all(self, why: str) -> None:
        why = f"{why}, at {_researcher_line()}"
        if self.declared is not None:
            raise UndeclaredParameterError(
                f"stage '{self.stage}' [{self.label}] used the whole parameter object ({why}), "
                f"so it can read more than its uses={self.declared}; read the declared fields "
                "one by one, or drop uses= from the stage"
            )
        self.everything = self.everything or why

    def summary(self) -> list[str]:
        """Sorted paths for metadata: ``["*"]`` when everything was (or may have been) read."""
        if self.everything or len(self.paths) > MAX_READS:
            return [EVERYTHING]
        return sorted(self.paths)


def _covered(path: str, declared: list[str]) -> bool:
    """``data.path`` is covered by ``data.path`` and by ``data`` (the whole nested set)."""
    return any(path == d or path.startswith(d + ".") or d.startswith(path + ".") for d in declared)


def _researcher_line() -> str:
    """file:line of the first frame outside cfcompile and the whole-object readers."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("cfcompile") or name in WHOLE_READERS):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


_ACTIVE: list[Reads] = []
_SEEN: dict[int, set[str]] = {}
"""id of each watched object -> the field names already noted (the hook's fast path)."""
_WATCHED: dict[type, type] = {}


def _watched_class(cls: type) -> type:
    """The subclass that notes reads, made once per parameter class."""
    sub = _WATCHED.get(cls)
    if sub is not None:
        return sub
    base_get = cls.__getattribute__

    def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807 - the hook itself
        if name == "__class__":
            return cls
        value = base_get(self, name)
        seen = _SEEN.get(id(self))
        if seen is None or name in seen:  # not watched now, or noted already: a plain read
            return value
        reads = _ACTIVE[-1] if _ACTIVE else None
        prefix = reads.objects.get(id(self)) if reads is not None else None
        if prefix is None:
            return value
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller in WHOLE_READERS and name in field_names(cls):
            reads.see_all(f"{caller} read {_where(prefix)}")
        if name in WHOLE:
            reads.see_all(f"{name} of {_where(prefix)}")
            _unwatch(self, cls)  # the copy or pickle must be of the researcher's own class
            return base_get(self, name)
        if name in field_names(cls):
            reads.see(prefix + name)
            if is_dataclass(value) and not isinstance(value, type):
                # a nested set counts whole (an isinstance dispatch, an object handed on), and
                # its fields are then noted one by one as well
                _watch(reads, value, prefix + name + ".")
            seen.add(name)  # the next read of it takes the plain path (a hot loop's)
        return value

    def __reduce_ex__(self: Any, protocol: int) -> Any:  # noqa: N807
        """An object made from the watched class (``type(record.params)(...)``) pickles and
        copies as the researcher's own class."""
        reduced = cls.__reduce_ex__(self, protocol)
        if isinstance(reduced, tuple) and len(reduced) > 1 and reduced[1]:
            args = reduced[1]
            if args and args[0] is sub:
                reduced = (reduced[0], (cls, *args[1:]), *reduced[2:])
        return reduced

    namespace = {
        "__getattribute__": __getattribute__,
        "__reduce_ex__": __reduce_ex__,
        "__slots__": (),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
    }
    sub = _WATCHED[cls] = type(cls.__name__, (cls,), namespace)
    return sub


def _where(prefix: str) -> str:
    """``record.params`` or ``record.params.data``, from a watched object's path prefix."""
    return "record.params" + ("." + prefix[:-1] if prefix else "")


_SWAPPED: list[tuple[Any, type]] = []


def _watch(reads: Reads, obj: Any, prefix: str) -> None:
    cls = type(obj)
    if cls in _WATCHED.values():
        reads.objects[id(obj)] = prefix
        _SEEN.setdefault(id(obj), set())
        return
    try:
        object.__setattr__(obj, "__class__", _watched_class(cls))
    except Exception:  # a layout the subclass cannot take (slots), an __init_subclass__ that
        # refuses it: the object cannot be watched, so it counts as read whole
        reads.see_all(f"{_where(prefix)} cannot be watched")
        return
    reads.objects[id(obj)] = prefix
    _SEEN[id(obj)] = set()
    _SWAPPED.append((obj, cls))


def _unwatch(obj: Any, cls: type) -> None:
    object.__setattr__(obj, "__class__", cls)
    _SEEN.pop(id(obj), None)


@contextmanager
def watching(params: Any, stage: str, label: str, declared: list[str] | None) -> Iterator[Reads]:
    """Note what the block reads of ``params`` (None, an aggregate's: nothing to watch)."""
    reads = Reads(stage, label, declared)
    if params is None or not is_dataclass(params) or isinstance(params, type):
        yield reads
        return
    mark = len(_SWAPPED)
    _ACTIVE.append(reads)
    try:
        _watch(reads, params, "")
        yield reads
    finally:
        _ACTIVE.pop()
        while len(_SWAPPED) > mark:
            obj, cls = _SWAPPED.pop()
            if type(obj) is not cls:
                _unwatch(obj, cls)
        for key in reads.objects:
            _SEEN.pop(key, None)
