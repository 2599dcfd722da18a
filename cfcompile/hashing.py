"""Parameter-set hashing, bit-identical to curifactory 0.20.5.

Cache file names embed these hashes, so any drift here silently orphans every cached artifact a
researcher already has (or, worse, makes two different parameter sets share files). The rules
below are therefore copied from curifactory's behaviour, not redesigned: see DESIGN.md's
compatibility contract and tests/test_hash_oracle.py, which checks them against curifactory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

from cfcompile.errors import ParamsError

IGNORED_FIELDS = ("name", "hash", "overwrite", "hash_representations")
"""Fields that never contribute to a hash, at every nesting level."""

_NESTED = "nested"


def _field_rep(param_set: Any, key: str) -> tuple[str, Any]:
    """One field's (strategy, representation); a None representation means "skip"."""
    value = getattr(param_set, key)
    if key in IGNORED_FIELDS:
        return ("ignored", None)
    reps = getattr(param_set, "hash_representations", None)
    if reps is not None and key in reps:
        fn = reps[key]
        if fn is None:
            return ("ignored: hash_representations", None)
        return ("hash_representations", fn(param_set, value))
    if value is None:
        return ("ignored: None", None)
    if is_dataclass(value):  # dataclass *classes* recurse too, exactly as in curifactory
        return (_NESTED, hash_values(value))
    if isinstance(value, Callable):
        return ("qualname", value.__qualname__)
    return ("repr", repr(value))


def hash_values(param_set: Any) -> dict[str, tuple[str, Any]]:
    """The per-field representations that make up a hash (curifactory's ``dry=True`` view)."""
    return {f.name: _field_rep(param_set, f.name) for f in fields(param_set)}


def _hash_total(reps: dict[str, tuple[str, Any]]) -> int:
    total = 0
    for key, (strategy, rep) in reps.items():
        if rep is None:
            continue
        if strategy == _NESTED:
            # nested keys carry no parent prefix: that is curifactory's rule, collisions included
            total += _hash_total(rep)
        else:
            total += int(hashlib.md5(f"{key}{rep}".encode()).hexdigest(), 16)
    return total


def compute_hash(param_set: Any) -> str:
    """The hash of a parameter set's current values, ignoring any preset ``.hash``."""
    return f"{_hash_total(hash_values(param_set)):x}"


def params_hash(param_set: Any, dry: bool = False) -> str | dict[str, tuple[str, Any]]:
    """A preset ``.hash`` wins (curifactory lets users pin cache names that way)."""
    if dry:
        return hash_values(param_set)
    if getattr(param_set, "hash", None) is not None:
        return param_set.hash
    return compute_hash(param_set)


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
        elif strategy == _NESTED:
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
