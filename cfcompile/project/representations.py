"""Hash representations that would betray a parameter set: refused before anything runs.

curifactory hashes ``repr()``. A repr that differs between processes (a memory address, the
order of a set of strings), between two calls (a timestamp), or that leaves values out (numpy
summarises arrays over 1,000 elements and rounds floats to 8 digits; pandas shows part of a
frame, at 6 digits, as its display options say; torch shows 4 digits) gives a hash that is
not the set's: new cache files on every run, or worse, two different sets sharing one hash
and one cache, the second served the first one's results. Each such field is named here with
its fix (``hash_representations`` with ``cfcompile.hashing.content_digest``, or the class's
``hash_by_content``), so ``project.paramsets`` can refuse it.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import re
import sys
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from cfcompile.hashing import content_kind, field_names, field_rep, is_nested
from cfcompile.values import short_text

ADDRESS = "address"
SET_ORDER = "set order"
LAMBDA = "lambda"
RAISED = "raised"
LOSSY = "lossy"
UNSTABLE = "unstable"

_ADDRESS_IN_REPR = re.compile(r" at 0x[0-9a-fA-F]+")
_STABLE_HASHES = (type(None), bool, int, float, complex, decimal.Decimal, fractions.Fraction)
_SEEDED_HASHES = (str, bytes, datetime.date, datetime.time, datetime.timedelta)


@dataclass(frozen=True)
class Problem:
    """A hashed field whose representation cannot give the same hash in every process."""

    field: str  # dotted path from the parameter set
    key: str  # the field's own name: what set_hash_functions(key=...) takes
    owner: str  # the class whose hash_representations can fix it
    kind: str  # ADDRESS, SET_ORDER, LOSSY, UNSTABLE, LAMBDA or RAISED
    detail: str  # the representation (shortened), or the exception


def representation_problems(param_set: Any) -> list[Problem]:
    """Every hashed field whose representation differs between processes, or cannot be made.

    A hash must be the same in the compiling process, in every job and in the next compile:
    cache file names embed it, and a job refuses a set whose hash changed. Reprs with a memory
    address (``<Model object at 0x7f...>``) and sets whose items hash with PYTHONHASHSEED (their
    repr order changes per process) break that silently: every run gets new cache files. A
    lambda hashes as ``<lambda>``, so sets differing only in one share a hash (a warning).
    """
    out: list[Problem] = []
    _walk_problems(param_set, "", out, 0)
    return out


def _walk_problems(obj: Any, prefix: str, out: list[Problem], depth: int) -> None:
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    for key in field_names(obj):
        path = prefix + key
        try:
            strategy, rep = field_rep(obj, key, nested=lambda value: None)
            if is_nested(strategy):
                if depth < 20:
                    _walk_problems(getattr(obj, key), path + ".", out, depth + 1)
                continue
            if rep is None:
                continue
            text = rep if isinstance(rep, str) else str(rep)
        except Exception as exc:  # noqa: BLE001 - a researcher's hash function or __repr__
            out.append(Problem(path, key, owner, RAISED, f"{type(exc).__name__}: {exc}"))
            continue
        short = short_text(text, 120)
        value = getattr(obj, key)
        if strategy.endswith(".__qualname__"):
            if "<lambda>" in text:
                out.append(Problem(path, key, owner, LAMBDA, short))
        elif _ADDRESS_IN_REPR.search(text):
            out.append(Problem(path, key, owner, ADDRESS, short))
        elif "{" in text and _holds_seed_ordered_set(  # a set's repr has braces: walk only then
            value if strategy.startswith("repr(") else rep, set(), 0
        ):
            out.append(Problem(path, key, owner, SET_ORDER, short))
        elif strategy.startswith("repr(") and (why := lossy(value)) is not None:
            out.append(Problem(path, key, owner, LOSSY, why))
        elif not _deterministic(value, 0) and _again(obj, key) != text:
            out.append(Problem(path, key, owner, UNSTABLE, short))


def unstable_fields(param_set: Any) -> list[Problem]:
    """The problems that make a hash differ between processes (not the lambda warnings)."""
    return [p for p in representation_problems(param_set) if p.kind != LAMBDA]


def _seeded_hash(item: Any, depth: int = 0) -> bool:
    """Does ``hash(item)`` depend on PYTHONHASHSEED or on a memory address?"""
    if isinstance(item, enum.Enum) and type(item).__hash__ is enum.Enum.__hash__:
        return True  # hashes its member name, a str
    if isinstance(item, _SEEDED_HASHES):
        return True
    if isinstance(item, _STABLE_HASHES):
        return False
    if isinstance(item, tuple | frozenset):
        return depth < 20 and any(_seeded_hash(x, depth + 1) for x in item)
    cls_hash = type(item).__hash__
    if is_dataclass(item) and cls_hash not in (None, object.__hash__):
        return depth < 20 and any(
            _seeded_hash(getattr(item, name), depth + 1) for name in field_names(item)
        )
    return cls_hash is object.__hash__  # identity: the order follows memory addresses


def _holds_seed_ordered_set(value: Any, seen: set[int], depth: int) -> bool:
    """A set (anywhere inside ``value``) whose repr order changes between processes."""
    if depth > 20 or id(value) in seen:
        return False
    if isinstance(value, set | frozenset):
        seen.add(id(value))
        if len(value) > 1 and any(_seeded_hash(x) for x in value):
            return True
        return any(_holds_seed_ordered_set(x, seen, depth + 1) for x in value)
    if isinstance(value, list | tuple):
        seen.add(id(value))
        return any(_holds_seed_ordered_set(x, seen, depth + 1) for x in value)
    if isinstance(value, dict):
        seen.add(id(value))
        return any(
            _holds_seed_ordered_set(k, seen, depth + 1)
            or _holds_seed_ordered_set(v, seen, depth + 1)
            for k, v in value.items()
        )
    if is_dataclass(value) and not isinstance(value, type):
        seen.add(id(value))
        return any(
            _holds_seed_ordered_set(getattr(value, f.name, None), seen, depth + 1)
            for f in fields(value)
            if f.repr
        )
    return False


_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def _deterministic(value: Any, depth: int) -> bool:
    """Built-in values whose repr is the same at every call (sets are the SET_ORDER check's)."""
    if isinstance(value, _SCALARS):
        return True
    if depth > 3:
        return False
    if type(value) in (list, tuple, frozenset, set):
        return all(_deterministic(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(_deterministic(k, depth + 1) and _deterministic(v, depth + 1)
                   for k, v in value.items())  # fmt: skip
    return False


def _again(obj: Any, key: str) -> str:
    """The field's representation computed a second time."""
    rep = field_rep(obj, key, nested=lambda value: None)[1]
    return rep if isinstance(rep, str) else str(rep)


def lossy(value: Any, depth: int = 0) -> str | None:
    """Why ``repr(value)`` leaves part of the value out, or None: numpy arrays summarised or
    rounded, pandas objects, torch tensors, anywhere inside lists, tuples and dicts."""
    if isinstance(value, _SCALARS):
        return None  # most fields: no class to walk
    kind = content_kind(value)
    if kind == "numpy":
        return _numpy_lossy(value)
    if kind == "pandas":
        return (
            f"a pandas {type(value).__name__}, whose repr shows part of it, rounded, as "
            "pandas' display options say"
        )
    if kind == "torch":
        return "a torch tensor, whose repr rounds to 4 digits and shows at most 1,000 values"
    if depth < 3 and type(value) in (list, tuple):
        return next((why for v in value if (why := lossy(v, depth + 1))), None)
    if depth < 3 and type(value) is dict:
        return next((why for v in value.values() if (why := lossy(v, depth + 1))), None)
    return None


def _numpy_lossy(array: Any) -> str | None:
    np = sys.modules["numpy"]
    threshold = np.get_printoptions()["threshold"]
    if array.size > threshold:
        return (
            f"a numpy array of {array.size:,} values, whose repr shows only the first and last "
            "three of each axis"
        )
    with np.printoptions(threshold=sys.maxsize, floatmode="unique"):
        exact = repr(array)
    if exact != repr(array):
        return "a numpy array whose repr rounds its values (to 8 digits)"
    return None
