"""Parameter-set hashing, bit-identical to curifactory 0.20.5.

Cache file names embed these hashes, so any drift here silently orphans every cached artifact a
researcher already has (or, worse, makes two different parameter sets share files). The rules
below are therefore copied from curifactory's behaviour, not redesigned: see DESIGN.md's
compatibility contract and tests/test_hash_oracle.py, which checks them against curifactory.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from cfcompile.errors import ParamsError

IGNORED_FIELDS = ("name", "hash", "overwrite", "hash_representations")
"""Fields that never contribute to a hash, at every nesting level."""

PARAMETERS_BLACKLIST = list(IGNORED_FIELDS)
"""curifactory's name for ``IGNORED_FIELDS``."""


def set_hash_functions(*args: dict, **kwargs: Callable | None) -> Any:
    """A dataclass field holding ``hash_representations``, so users avoid default_factory noise.

    ``None`` excludes a parameter from the hash (operational settings such as GPU counts); a
    function ``(param_set, value) -> representation`` replaces ``repr`` for that parameter.
    Defined here, as in curifactory (``curifactory.hashing.set_hash_functions``).
    """
    if args:
        if not isinstance(args[0], dict):
            raise ValueError(
                "set_hash_functions: a positional argument must be a dict of parameter name -> "
                "function or None"
            )
        base = dict(args[0])
        return field(default_factory=lambda: {**base, **kwargs}, repr=False)
    return field(default_factory=lambda: dict(**kwargs), repr=False)


_NESTED = "get_param_set_hash_values"
"""How a nested dataclass's strategy label starts; curifactory recurses on that prefix too."""


def _field_rep(param_set: Any, key: str, nested: Callable | None = None) -> tuple[str, Any]:
    """One field's (strategy, representation); a None representation means "skip".

    The strategy labels are curifactory's own (``params_hash(dry=True)`` shows them, and
    researchers debug their hash functions by reading them). ``nested`` (default:
    ``hash_values``) turns a nested dataclass value into its representation;
    ``representation_problems`` walks nested values itself.
    """
    value = getattr(param_set, key)
    if key in IGNORED_FIELDS:
        return ("SKIPPED: blacklist", None)
    reps = getattr(param_set, "hash_representations", None)
    if reps is not None and key in reps:
        fn = reps[key]
        if fn is None:
            return ("SKIPPED: set to None in hash_representations", None)
        return (
            f"param_set.hash_representations['{key}'](param_set, {key})",
            fn(param_set, value),
        )
    if value is None:
        return ("SKIPPED: value is None", None)
    if is_dataclass(value):  # dataclass *classes* recurse too, exactly as in curifactory
        return (f"{_NESTED}(param_set, {key})", (nested or hash_values)(value))
    if isinstance(value, Callable):
        return (f"{key}.__qualname__", value.__qualname__)
    return (f"repr({key})", repr(value))


def _is_nested(strategy: str) -> bool:
    return strategy.startswith(_NESTED)


def hash_values(param_set: Any) -> dict[str, tuple[str, Any]]:
    """The per-field representations that make up a hash (curifactory's ``dry=True`` view)."""
    return {name: _field_rep(param_set, name) for name in field_names(param_set)}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(obj: Any) -> tuple[str, ...]:
    """``dataclasses.fields`` names, once per class: a 50,000-set compile hashes every set
    twice, and ``fields()`` costs tens of microseconds a call on a parameter class."""
    cls = obj if isinstance(obj, type) else type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(obj))
    return names


get_parameter_hash_value = _field_rep
"""curifactory's name for one field's (strategy, representation)."""

get_param_set_hash_values = hash_values
"""curifactory's name for ``hash_values``."""


def _hash_total(reps: dict[str, tuple[str, Any]]) -> int:
    total = 0
    for key, (strategy, rep) in reps.items():
        if rep is None:
            continue
        if _is_nested(strategy):
            # nested keys carry no parent prefix: that is curifactory's rule, collisions included
            total += _hash_total(rep)
        else:
            total += int(hashlib.md5(f"{key}{rep}".encode()).hexdigest(), 16)
    return total


def compute_hash(param_set: Any) -> str:
    """The hash of a parameter set's current values, ignoring any preset ``.hash``.

    Also takes what curifactory's ``compute_hash`` takes, the dict of ``hash_values``
    (a parameter set is a dataclass, never a dict, so the two cannot be confused).
    """
    reps = param_set if isinstance(param_set, dict) else hash_values(param_set)
    return f"{_hash_total(reps):x}"


def params_hash(param_set: Any, dry: bool = False) -> str | dict[str, tuple[str, Any]]:
    """A preset ``.hash`` wins (curifactory lets users pin cache names that way)."""
    if dry:
        return hash_values(param_set)
    if getattr(param_set, "hash", None) is not None:
        return param_set.hash
    return compute_hash(param_set)


def hash_param_set(
    param_set: Any,
    store_in_registry: bool = False,
    registry_path: str | None = None,
    dry: bool = False,
) -> str | dict:
    """curifactory's ``hash_param_set``: ``params_hash``, optionally noted in the registry file.

    cfcompile's own runs keep no registry (docs/semantics.md); this is for experiment code that
    calls the function itself, and writes ``params_registry.json`` as curifactory does.
    """
    if dry:
        return hash_values(param_set)
    value = params_hash(param_set)
    if store_in_registry and registry_path is not None:
        entry = string_representations(param_set)
        entry["_DRY_REPS"] = hash_values(param_set)
        _update_registry(registry_path, value, entry)
    return value


def add_params_combo_hash(
    active_record: Any,
    records_list: list,
    registry_path: str | None,
    store_in_registry: bool = False,
) -> str:
    """curifactory's name and signature for ``combo_hash`` over records (an aggregate's hash)."""
    own = active_record.params.hash if active_record.params is not None else None
    hashes = [r.params.hash if r.params is not None else None for r in records_list]
    value = combo_hash(own, hashes)
    if store_in_registry and registry_path is not None:
        listed = sorted("None" if h is None else h for h in hashes)
        _update_registry(registry_path, value, {"active": own or "None", "arg_list": listed})
    return value


def _update_registry(folder: str, key: str, entry: dict) -> None:
    path = os.path.join(folder, "params_registry.json")
    registry = {}
    if os.path.exists(path):
        with open(path) as infile:
            registry = json.load(infile)
    registry[key] = entry
    with open(path, "w") as outfile:
        json.dump(registry, outfile, indent=4, default=str)


_HASH_FORMAT = re.compile(r"[0-9a-f]+")


def is_valid_hash(value: Any) -> bool:
    """Lowercase hex, as curifactory's hashes are (hex integers of variable length).

    A hash becomes part of cache file names, log paths and the Snakefile's ``{hash}`` wildcard
    (``[0-9a-f]+``), so anything else could name a file outside its folder or never match.
    """
    return isinstance(value, str) and _HASH_FORMAT.fullmatch(value) is not None


def check_preset_hash(param_set: Any, where: str | None = None) -> None:
    """Refuse a preset ``.hash`` that is not lowercase hex, naming the set (and its file)."""
    value = getattr(param_set, "hash", None)
    if value is None or is_valid_hash(value):
        return
    try:
        example = f" such as '{compute_hash(param_set)}' (this set's own hash)"
    except Exception:  # noqa: BLE001 - the example is a courtesy; the refusal is the point
        example = ""
    prefix = f"{where}: " if where else ""
    raise ParamsError(
        f"{prefix}parameter set '{getattr(param_set, 'name', '?')}' has hash={value!r}, but a "
        "preset hash names the set's cache files, so it must be a lowercase hex string"
        f"{example}: fix it, or drop hash= and let the hash be computed"
    )


def combo_hash(own_hash: str | None, input_hashes: list[str | None]) -> str:
    """The hash an aggregate record caches under: its own hash plus every input record's."""
    hashes = sorted("None" if h is None else h for h in input_hashes)
    key = ["None" if own_hash is None else own_hash, *hashes]
    return hashlib.md5(str(key).encode()).hexdigest()


def string_representations(param_set: Any) -> dict[str, Any]:
    """A JSON-able view of a parameter set for metadata files, shaped like curifactory's.

    Ignored parameters are still listed (under ``IGNORED_PARAMS``) so that a metadata file
    tells the whole story of the run, not only the hashed part.
    """
    out: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for key, (strategy, rep) in hash_values(param_set).items():
        value = getattr(param_set, key)
        if key == "name":
            out[key] = param_set.name
        elif _is_nested(strategy):
            out[key] = string_representations(value)
        elif rep is not None:
            out[key] = str(rep)
        elif key in IGNORED_FIELDS:
            continue
        elif is_dataclass(value):
            skipped[key] = string_representations(value)
        else:
            try:
                skipped[key] = str(value)
            except Exception:  # noqa: BLE001 - a broken __str__ must not break metadata
                skipped[key] = None
    if skipped:
        out["IGNORED_PARAMS"] = skipped
    return out


param_set_string_hash_representations = string_representations
"""curifactory's name for ``string_representations``."""


# -- representations that are not the same in every process --------------------------------------
ADDRESS = "address"
SET_ORDER = "set order"
LAMBDA = "lambda"
RAISED = "raised"

_ADDRESS_IN_REPR = re.compile(r" at 0x[0-9a-fA-F]+")
_STABLE_HASHES = (type(None), bool, int, float, complex, decimal.Decimal, fractions.Fraction)
_SEEDED_HASHES = (str, bytes, datetime.date, datetime.time, datetime.timedelta)


@dataclass(frozen=True)
class Problem:
    """A hashed field whose representation cannot give the same hash in every process."""

    field: str  # dotted path from the parameter set
    key: str  # the field's own name: what set_hash_functions(key=...) takes
    owner: str  # the class whose hash_representations can fix it
    kind: str  # ADDRESS, SET_ORDER, LAMBDA or RAISED
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
            strategy, rep = _field_rep(obj, key, nested=lambda value: None)
            if _is_nested(strategy):
                if depth < 20:
                    _walk_problems(getattr(obj, key), path + ".", out, depth + 1)
                continue
            if rep is None:
                continue
            text = rep if isinstance(rep, str) else str(rep)
        except Exception as exc:  # noqa: BLE001 - a researcher's hash function or __repr__
            out.append(Problem(path, key, owner, RAISED, f"{type(exc).__name__}: {exc}"))
            continue
        short = text if len(text) <= 120 else text[:117] + "..."
        if strategy.endswith(".__qualname__"):
            if "<lambda>" in text:
                out.append(Problem(path, key, owner, LAMBDA, short))
        elif _ADDRESS_IN_REPR.search(text):
            out.append(Problem(path, key, owner, ADDRESS, short))
        elif "{" in text and _holds_seed_ordered_set(  # a set's repr has braces: walk only then
            getattr(obj, key) if strategy.startswith("repr(") else rep, set(), 0
        ):
            out.append(Problem(path, key, owner, SET_ORDER, short))


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
