"""A parameter value as bytes that stand for everything it can do: the reuse key's material.

Two sets may share a computation only when every value the stage read is the same in every
respect a computation can see. ``repr`` is not that: it can hold a memory address (two
different functions in two forked children can land at one address), leave the value out
(``Adam()``), or name a function only by its qualname. So a value is encoded here only when
its encoding is known to be faithful:

- None, booleans, numbers, strings, bytes, enum members, paths, dates, decimals;
- tuples, lists, dicts (in order), sets (sorted) and dataclass instances of those, every
  field included (``name`` and ``hash`` too), with the class's identity;
- numpy arrays and scalars, pandas and torch objects, by dtype, shape and every byte;
- classes by identity (``identity.class_identity``); functions by module, qualname, code,
  defaults, closure cells and the project files they can reach; ``functools.partial`` by its
  function and arguments; bound methods by function and ``self``.

Anything else (a custom class with its own ``__repr__``, a callable object, a generator)
raises ``Unfaithful`` naming the path and the type: the node is merged with nothing, unless
the field has a ``hash_representations`` function, taken as the researcher's statement that
its result identifies the value (a ``None`` entry, "leave out of the hash", never does).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import pathlib
import types
import uuid
from typing import Any

from cfcompile import identity
from cfcompile.errors import StageDefinitionError
from cfcompile.hashing import content_kind, frame_digest, tensor_digest

MAX_DEPTH = 40


class Unfaithful(Exception):
    """A value whose encoding would not stand for all it can do; the message says which."""


_PLAIN = (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, fractions.Fraction)
_PLAIN += (uuid.UUID, range, slice)


def digest(value: Any, where: str = "value") -> str:
    """md5 of the value's faithful encoding; ``Unfaithful`` when it has none."""
    h = hashlib.md5()
    _Encoder(h).feed(value, where, 0)
    return h.hexdigest()


def class_token(cls: type) -> str:
    return "K" + identity.class_identity(cls)


class _Encoder:
    def __init__(self, h: Any) -> None:
        self.h = h
        self.stack: dict[int, int] = {}  # id of a container being encoded -> depth

    def put(self, *parts: Any) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
            self.h.update(len(data).to_bytes(8, "little"))
            self.h.update(data)

    def feed(self, value: Any, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Unfaithful(f"{where}: nested deeper than {MAX_DEPTH} levels")
        kind = type(value)
        if value is None or kind is bool:
            self.put("c", repr(value))
        elif kind is int:
            self.put("i", value)
        elif kind is float:
            self.put("f", value.hex())
        elif kind is complex:
            self.put("j", value.real.hex(), value.imag.hex())
        elif kind is str:
            self.put("s", value)
        elif kind is bytes or kind is bytearray:
            self.put("y" + kind.__name__, bytes(value))
        elif isinstance(value, enum.Enum):
            self.put("e", class_token(kind), value.name)
        elif isinstance(value, pathlib.PurePath):
            self.put("p", kind.__name__, str(value))
        elif isinstance(value, _PLAIN) and kind.__module__ in _STDLIB_MODULES:
            self.put("v", kind.__qualname__, repr(value))
        else:
            self._feed_object(value, kind, where, depth)

    def _feed_object(self, value: Any, kind: type, where: str, depth: int) -> None:
        lib = content_kind(value)
        if lib is not None:
            self.put("a", _content(value, lib))
            return
        if kind.__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "tobytes"):
            self.put("n", value.dtype.str, value.tobytes())  # a numpy scalar
            return
        if isinstance(value, type):
            self.put("t", class_token(value))
            return
        if callable(value) and not dataclasses.is_dataclass(value):
            self._feed_callable(value, kind, where, depth)
            return
        key = id(value)
        if key in self.stack:  # a cycle: the position it points back to
            self.put("@", depth - self.stack[key])
            return
        self.stack[key] = depth
        try:
            self._feed_container(value, kind, where, depth)
        finally:
            del self.stack[key]

    def _feed_container(self, value: Any, kind: type, where: str, depth: int) -> None:
        if dataclasses.is_dataclass(value):
            self.put("d", class_token(kind))
            for f in dataclasses.fields(value):
                self.put(f.name)
                self.field(value, f.name, f"{where}.{f.name}", depth + 1)
            return
        if isinstance(value, list | tuple):
            self.put("l", kind.__name__ if kind in (list, tuple) else class_token(kind), len(value))
            if kind not in (list, tuple) and getattr(value, "__dict__", None):
                raise Unfaithful(f"{where}: a {_name(kind)} holds attributes besides its items")
            for i, item in enumerate(value):
                self.feed(item, f"{where}[{i}]", depth + 1)
            return
        if isinstance(value, dict):
            self.put("m", "dict" if kind is dict else class_token(kind), len(value))
            factory = getattr(value, "default_factory", None)
            if factory is not None:
                self.feed(factory, f"{where}.default_factory", depth + 1)
            for i, (k, v) in enumerate(value.items()):
                self.feed(k, f"{where} key {i}", depth + 1)
                self.feed(v, f"{where}[{k!r}]", depth + 1)
            return
        if isinstance(value, set | frozenset):
            items = sorted(digest(item, f"{where} item") for item in value)
            self.put("z", kind.__name__ if kind in (set, frozenset) else class_token(kind), *items)
            return
        raise Unfaithful(
            f"{where}: a {_name(kind)} has no representation known to stand for its value "
            "(its repr may leave the value out or hold a memory address)"
        )

    def field(self, owner: Any, name: str, where: str, depth: int) -> None:
        """One dataclass field: its value, or its ``hash_representations`` function's result
        when the value has no faithful encoding of its own."""
        value = getattr(owner, name)
        mark = self.h.copy()
        try:
            self.feed(value, where, depth)
        except Unfaithful:
            reps = getattr(owner, "hash_representations", None)
            fn = reps.get(name) if isinstance(reps, dict) else None
            if fn is None:
                raise
            self.h = mark
            self.put("r")
            self.feed(fn(owner, value), f"{where} (its hash_representations)", depth)

    def _feed_callable(self, value: Any, kind: type, where: str, depth: int) -> None:
        if isinstance(value, functools.partial):
            self.put("P")
            self.feed(value.func, f"{where}.func", depth + 1)
            self.feed(value.args, f"{where}.args", depth + 1)
            self.feed(value.keywords, f"{where}.keywords", depth + 1)
        elif isinstance(value, types.MethodType):
            self.put("M")
            self.feed(value.__func__, f"{where}.__func__", depth + 1)
            self.feed(value.__self__, f"{where}.__self__", depth + 1)
        elif isinstance(value, types.FunctionType):
            self._feed_function(value, where, depth)
        elif isinstance(value, types.BuiltinFunctionType | types.BuiltinMethodType):
            owner = getattr(value, "__self__", None)
            self.put("B", getattr(value, "__module__", None), value.__qualname__)
            if owner is not None and not isinstance(owner, types.ModuleType):
                self.feed(owner, f"{where}.__self__", depth + 1)
        elif kind.__name__ == "ufunc" and kind.__module__ == "numpy":
            self.put("U", value.__name__)
        else:
            raise Unfaithful(
                f"{where}: a callable {_name(kind)} is not a function, method or partial, so "
                "what it does cannot be told from its code"
            )

    def _feed_function(self, fn: Any, where: str, depth: int) -> None:
        key = id(fn)
        if key in self.stack:
            self.put("@", depth - self.stack[key])
            return
        self.stack[key] = depth
        try:
            self.put("F", identity.code_identity(fn))
            self.feed(fn.__defaults__, f"{where}.__defaults__", depth + 1)
            self.feed(fn.__kwdefaults__, f"{where}.__kwdefaults__", depth + 1)
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
                try:
                    content = cell.cell_contents
                except ValueError:  # an empty cell (a name assigned later)
                    self.put("<empty>")
                    continue
                self.feed(content, f"{where} (its closure's {name})", depth + 1)
        finally:
            del self.stack[key]


_STDLIB_MODULES = {"datetime", "decimal", "_decimal", "fractions", "uuid", "builtins"}


def _name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _content(value: Any, lib: str) -> str:
    if lib == "numpy":
        if value.dtype.hasobject:  # items without bytes of their own: each encoded
            return digest(value.tolist(), "array item") + f"{value.dtype.str}{value.shape}"
        h = hashlib.md5(f"{value.dtype.str}{value.shape}".encode())
        h.update(value.tobytes(order="C"))
        return h.hexdigest()
    if lib == "pandas":
        return frame_digest(None, value)
    return tensor_digest(None, value)


def field_digest(owner: Any, name: str, where: str) -> str:
    """md5 of one dataclass field's value, or of its ``hash_representations`` function's
    result when the value has no faithful encoding of its own."""
    h = hashlib.md5()
    enc = _Encoder(h)
    enc.field(owner, name, where, 0)
    return enc.h.hexdigest()


# -- paths into the parameters ---------------------------------------------------------------
CLASS = "__class__"
"""The last part of a path that stands for a nested object's class (``data.__class__``)."""


class UnknownParameterError(StageDefinitionError):
    """A ``uses=[...]`` path that the parameter set does not have."""


def path_digest(params: Any, path: str, stage: str) -> str:
    """What two sets must share for a read path to count as equal: the class of each object
    on the way, and the last one's value, or its class (``data.__class__``). A
    non-dataclass on the way (a None) stands for the rest of the path by its own value."""
    h = hashlib.md5()
    obj, parts = params, path.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            h.update(digest(obj, _shown(parts[:i])).encode())
            return h.hexdigest()
        h.update(class_token(type(obj)).encode())
        if part == CLASS and i == len(parts) - 1:
            return h.hexdigest()
        if part not in obj.__dataclass_fields__ and part not in getattr(obj, "__dict__", {}):
            where = ".".join(parts[:i]) or "the parameter set"
            raise UnknownParameterError(
                f"stage '{stage}': uses=[... '{path}' ...] names a field that {where} "
                f"({type(obj).__name__}) does not have; fix the path in the stage's uses=[...]"
            )
        if i == len(parts) - 1:
            h.update(field_digest(obj, part, _shown(parts)).encode())
            return h.hexdigest()
        obj = getattr(obj, part)
    return h.hexdigest()


def _shown(parts: list[str]) -> str:
    return "record.params" + "".join("." + p for p in parts)


def reads_digest(params: Any, paths: list[str], stage: str) -> str:
    """md5 of the read paths' digests, in path order (a learned read set's values)."""
    body = [[p, path_digest(params, p, stage)] for p in sorted(paths)]
    return hashlib.md5(repr(body).encode()).hexdigest()
