"""The watch itself: the parameter object's class swapped, for the duration of a stage call,
for a subclass that notes each field read into the innermost ``Reads`` and refuses writes.

A proxy would not do: it is not a dataclass, so ``asdict``, ``isinstance`` and ``fields()``
would change behaviour inside the stage. The subclass answers ``__class__`` with the
researcher's class and pickles as it, and the object gets its own class back when the last
call watching it ends (``watching``). A fork during a call marks the read set incomplete.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import is_dataclass
from typing import Any

from cfcompile.core import tokens
from cfcompile.core.reads import (
    CLASS,
    WHOLE,
    WHOLE_READERS,
    ParameterWriteError,
    Reads,
    is_internal,
    researcher_line,
    where,
)
from cfcompile.hashing import field_names

_MUTABLE = (list, dict, set, bytearray)

_ACTIVE: list[Reads] = []
_WATCHED: dict[type, type] = {}


def _watched_class(cls: type) -> type:
    """The subclass that notes reads and refuses writes, made once per parameter class."""
    sub = _WATCHED.get(cls)
    if sub is not None:
        return sub
    base_get, base_set, base_del = cls.__getattribute__, cls.__setattr__, cls.__delattr__

    def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807 - the hook itself
        if name == "__class__":
            return cls
        value = base_get(self, name)
        if not _ACTIVE:
            return value
        reads = _ACTIVE[-1]
        seen = reads.seen.get(id(self))
        if seen is None or name in seen:  # not watched now, or noted already: a plain read
            return value
        frame = sys._getframe(1)
        if is_internal(frame):
            return value
        return _note(reads, self, cls, name, value, seen, frame)

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        _refuse_write(self, name)
        base_set(self, name, value)

    def __delattr__(self: Any, name: str) -> None:  # noqa: N807
        _refuse_write(self, name)
        base_del(self, name)

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
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__reduce_ex__": __reduce_ex__,
        "__slots__": (),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
    }
    sub = _WATCHED[cls] = type(cls.__name__, (cls,), namespace)
    return sub


def _note(
    reads: Reads, obj: Any, cls: type, name: str, value: Any, seen: set[str], frame: Any
) -> Any:
    """The first read of ``name`` on a watched object in this call."""
    prefix = reads.objects[id(obj)]
    caller = frame.f_globals.get("__name__", "")
    if name in WHOLE:
        if name == "__dict__" and caller == "functools":
            return value  # a cached_property's own store; its getter's reads are noted
        reads.see_whole(prefix, f"{name} of {where(prefix)}")
        _unwatch(obj, cls)  # the copy or pickle must be of the researcher's own class
        return object.__getattribute__(obj, name)
    if name not in field_names(cls) and name not in _instance_dict(obj):
        return value  # a method, a property, a class attribute: what it reads is noted
    if caller in WHOLE_READERS:
        reads.see_whole(prefix, f"{caller} read {where(prefix)}")
    path = prefix + name
    if is_dataclass(value) and not isinstance(value, type):
        reads.see(f"{path}.{CLASS}")
        _watch(reads, value, path + ".")
    else:
        reads.see(path)
        if isinstance(value, _MUTABLE) or type(value).__name__ == "ndarray":
            try:
                reads.snapshots[path] = (value, tokens.digest(value))
            except tokens.Unfaithful:
                pass
    seen.add(name)  # the next read of it takes the plain path (a hot loop's)
    return value


def _instance_dict(obj: Any) -> dict:
    try:
        return object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return {}


def _refuse_write(obj: Any, name: str) -> None:
    if not _ACTIVE:
        return
    for reads in reversed(_ACTIVE):
        prefix = reads.objects.get(id(obj))
        if prefix is None:
            continue
        if is_internal(sys._getframe(2)):
            return
        raise ParameterWriteError(
            f"stage '{reads.stage}' [{reads.label}] assigned {where(prefix + name)} at "
            f"{researcher_line()}; parameters are read-only inside a stage (a later stage "
            "would see the new value in one process and the old one in another): compute "
            "the value in the stage and return it as an output, or set it in get_params()"
        )


_SWAPPED: list[tuple[Any, type]] = []


def _watch(reads: Reads, obj: Any, prefix: str) -> None:
    cls = type(obj)
    if cls not in _WATCHED.values():
        try:
            object.__setattr__(obj, "__class__", _watched_class(cls))
        except Exception:  # a layout the subclass cannot take (slots), an __init_subclass__
            # that refuses it: the object cannot be watched, so it counts as read whole
            reads.see_whole(prefix, f"{where(prefix)} cannot be watched")
            return
        _SWAPPED.append((obj, cls))
        _forget_cached_properties(obj, cls)
    reads.objects[id(obj)] = prefix
    reads.seen[id(obj)] = set()


def _forget_cached_properties(obj: Any, cls: type) -> None:
    """A ``functools.cached_property`` value cached by an earlier stage would be read without
    its getter's reads: drop it, so every route computes it (and notes what it reads)."""
    held = _instance_dict(obj)
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if isinstance(attr, functools.cached_property) and name in held:
                del held[name]


def _unwatch(obj: Any, cls: type) -> None:
    object.__setattr__(obj, "__class__", cls)
    for reads in _ACTIVE:
        reads.seen.pop(id(obj), None)


@contextmanager
def watching(params: Any, stage: str, label: str, declared: list[str] | None) -> Iterator[Reads]:
    """Note what the block reads of ``params`` (None, an aggregate's: nothing to watch). The
    block is the call and whatever must still be seen after it returns (the scan of its
    outputs, their save); ``Reads.returned`` marks the end of the call itself."""
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
        _ACTIVE.remove(reads)
        kept = []
        while len(_SWAPPED) > mark:
            obj, cls = _SWAPPED.pop()
            if any(id(obj) in r.objects for r in _ACTIVE):
                kept.append((obj, cls))  # an outer call still watches it
            elif type(obj) is not cls:
                _unwatch(obj, cls)
        _SWAPPED.extend(reversed(kept))


def active() -> Reads | None:
    """The innermost call being watched in this process, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def _before_fork() -> None:
    for reads in _ACTIVE:
        reads.forked()


os.register_at_fork(before=_before_fork)
