"""Parameter-set hashing, bit-identical to curifactory 0.20.5.

Cache file names embed these hashes, so any drift here silently orphans every cached artifact a
researcher already has (or, worse, makes two different parameter sets share files). The rules
below are therefore copied from curifactory's behaviour, not redesigned: see the compatibility
contract (docs/semantics.md) and tests/oracle/test_hash_oracle.py, which checks them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import field, fields, is_dataclass
from typing import Any

from cfcompile.errors import ParamsError
from cfcompile.values import short_text

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


def field_rep(param_set: Any, key: str, nested: Callable | None = None) -> tuple[str, Any]:
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
    if getattr(param_set, "hash_by_content", False) and holds_content(value):
        return (f"content_digest(param_set, {key})", content_digest(param_set, value))
    return (f"repr({key})", repr(value))


def is_nested(strategy: str) -> bool:
    return strategy.startswith(_NESTED)


def hash_values(param_set: Any) -> dict[str, tuple[str, Any]]:
    """The per-field representations that make up a hash (curifactory's ``dry=True`` view)."""
    return {name: field_rep(param_set, name) for name in field_names(param_set)}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def field_names(obj: Any) -> tuple[str, ...]:
    """``dataclasses.fields`` names, once per class: a 50,000-set compile hashes every set
    twice, and ``fields()`` costs tens of microseconds a call on a parameter class."""
    cls = obj if isinstance(obj, type) else type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(obj))
    return names


get_parameter_hash_value = field_rep
"""curifactory's name for one field's (strategy, representation)."""

get_param_set_hash_values = hash_values
"""curifactory's name for ``hash_values``."""


def _hash_total(reps: dict[str, tuple[str, Any]]) -> int:
    total = 0
    for key, (strategy, rep) in reps.items():
        if rep is None:
            continue
        if is_nested(strategy):
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


_JOB_SAFE_HASH = re.compile(r"[A-Za-z0-9._+-]+")
_MAX_HASH_LENGTH = 128
"""A hash is one part of a cache file name (``{prefix}_{hash}_{stage}_{name}``): well under
the 255 bytes most file systems allow for a whole name."""


def hash_problem(value: Any) -> str | None:
    """Why ``value`` cannot name a set's cache files, or None when it can.

    curifactory takes any string as a preset hash; cfcompile takes any string that keeps the
    cache file inside its folder and is a valid file name: not empty, at most 128 characters,
    no ``/`` or ``\\``, no ``..``, no NUL or other control character.
    """
    if not isinstance(value, str) or not value:
        return "it must be a non-empty string"
    if len(value) > _MAX_HASH_LENGTH:
        return f"it is longer than {_MAX_HASH_LENGTH} characters (a file name has a limit)"
    if "/" in value or "\\" in value or ".." in value:
        return (
            "it contains '/', '\\' or '..', which would move its cache files out of the "
            "cache folder"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "it contains NUL or another control character, which no file name may hold"
    return None


def is_valid_hash(value: Any) -> bool:
    """Whether ``value`` can name a set's cache files (``hash_problem``)."""
    return hash_problem(value) is None


def job_hash_problem(value: str) -> str | None:
    """Why a (valid) hash cannot name a compiled workflow's job, or None when it can.

    A compiled job receives its hash on a shell command line and in its log's file name, so
    there the hash is limited to letters, digits and ``._+-`` (every computed hash is hex).
    """
    if _JOB_SAFE_HASH.fullmatch(value) is None:
        return (
            "a compiled workflow passes it on a shell command line, so it may only hold "
            "letters, digits and '._+-' (run it with --eager, or choose such a hash)"
        )
    return None


def check_preset_hash(param_set: Any, where: str | None = None, for_jobs: bool = False) -> None:
    """Refuse a preset ``.hash`` that cannot name the set's cache files, naming the set (and
    its file); ``for_jobs`` (compiling) also refuses what a job's command line cannot carry."""
    value = getattr(param_set, "hash", None)
    if value is None:
        return
    problem = hash_problem(value)
    if problem is None and for_jobs:
        problem = job_hash_problem(value)
    if problem is None:
        return
    try:
        example = f" such as '{compute_hash(param_set)}' (this set's own hash)"
    except Exception:  # noqa: BLE001 - the example is a courtesy; the refusal is the point
        example = ""
    prefix = f"{where}: " if where else ""
    raise ParamsError(
        f"{prefix}parameter set '{getattr(param_set, 'name', '?')}' has hash={value!r}, but a "
        f"preset hash names the set's cache files and {problem}: fix it{example}, or drop "
        "hash= and let the hash be computed"
    )


def combo_hash(own_hash: str | None, input_hashes: list[str | None]) -> str:
    """The hash an aggregate record caches under: its own hash plus every input record's."""
    hashes = sorted("None" if h is None else h for h in input_hashes)
    key = ["None" if own_hash is None else own_hash, *hashes]
    return hashlib.md5(str(key).encode()).hexdigest()


def string_representations(param_set: Any) -> dict[str, Any]:
    """A JSON-able view of a parameter set for metadata files, shaped like curifactory's.

    Ignored parameters are still listed (under ``IGNORED_PARAMS``) so that a metadata file
    tells the whole story of the run, not only the hashed part. A representation past
    ``values.SHORT`` characters is written short (its beginning, length and digest): a
    4,000,000-number list would otherwise make every output's metadata 48 MB, and the digest
    still shows a change in ``--dry-run``'s "what changed".
    """
    out: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for key, (strategy, rep) in hash_values(param_set).items():
        value = getattr(param_set, key)
        if key == "name":
            out[key] = param_set.name
        elif is_nested(strategy):
            out[key] = string_representations(value)
        elif rep is not None:
            out[key] = short_text(str(rep))
        elif key in IGNORED_FIELDS:
            continue
        elif is_dataclass(value):
            skipped[key] = string_representations(value)
        else:
            try:
                skipped[key] = short_text(str(value))
            except Exception:  # noqa: BLE001 - a broken __str__ must not break metadata
                skipped[key] = None
    if skipped:
        out["IGNORED_PARAMS"] = skipped
    return out


param_set_string_hash_representations = string_representations
"""curifactory's name for ``string_representations``."""


# -- values hashed by their content --------------------------------------------------------------
def content_kind(value: Any) -> str | None:
    """``"numpy"``, ``"pandas"`` or ``"torch"`` for an array, frame or tensor (told by its class,
    never by importing the library), else None."""
    for cls in type(value).__mro__:
        lib = cls.__module__.split(".")[0]
        if lib == "numpy" and cls.__name__ == "ndarray":
            return "numpy"
        if lib == "pandas" and cls.__name__ in ("DataFrame", "Series", "Index"):
            return "pandas"
        if lib == "torch" and cls.__name__ == "Tensor":
            return "torch"
    return None


def holds_content(value: Any, depth: int = 0) -> bool:
    """An array, frame or tensor, or a list, tuple or dict holding one."""
    if content_kind(value) is not None:
        return True
    if depth < 3 and type(value) in (list, tuple):
        return any(holds_content(v, depth + 1) for v in value)
    if depth < 3 and type(value) is dict:
        return any(holds_content(v, depth + 1) for v in value.values())
    return False


def content_digest(param_set: Any, value: Any) -> str:
    """A hash representation made from a value's content, for values whose repr leaves part of
    them out: numpy arrays, pandas frames, series and indexes, torch tensors, and lists, tuples
    and dicts of them (other items by their repr).

    Use it in ``hash_representations`` (``cf.set_hash_functions(weights=content_digest)``), or
    set ``hash_by_content = True`` on the parameter class to hash every such field this way.
    The representation names the type and shape, so a dry run's "what changed" stays readable.
    """
    kind = content_kind(value)
    if kind == "numpy":
        return array_digest(param_set, value)
    if kind == "pandas":
        return frame_digest(param_set, value)
    if kind == "torch":
        return tensor_digest(param_set, value)
    if type(value) in (list, tuple):
        parts = [content_digest(param_set, v) for v in value]
        return f"{type(value).__name__}[{', '.join(parts)}]"
    if type(value) is dict:
        parts = [f"{k!r}: {content_digest(param_set, v)}" for k, v in value.items()]
        return "{" + ", ".join(parts) + "}"
    return repr(value)


def array_digest(param_set: Any, array: Any) -> str:
    """``ndarray float64 (2000,) md5:...``: dtype, shape and every byte of a numpy array (an
    object array by the repr of its items, which have no bytes of their own)."""
    h = hashlib.md5(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype.hasobject:
        h.update(repr(array.tolist()).encode())
    else:
        h.update(array.tobytes(order="C"))
    return f"ndarray {array.dtype} {array.shape} md5:{h.hexdigest()}"


def frame_digest(param_set: Any, frame: Any) -> str:
    """``DataFrame (100, 3) md5:...``: every value, the index, the column names and dtypes of a
    pandas DataFrame, Series or Index (``pandas.util.hash_pandas_object``)."""
    import pandas as pd  # the value is a pandas object: pandas is loaded already

    h = hashlib.md5(type(frame).__name__.encode())
    if isinstance(frame, pd.DataFrame):
        h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    else:
        h.update(f"{getattr(frame, 'name', None)!r} {frame.dtype}".encode())
    h.update(pd.util.hash_pandas_object(frame, index=not isinstance(frame, pd.Index)).values)
    return f"{type(frame).__name__} {frame.shape} md5:{h.hexdigest()}"


def tensor_digest(param_set: Any, tensor: Any) -> str:
    """``Tensor torch.float32 (3, 4) md5:...``: dtype, shape and every value of a torch tensor."""
    t = tensor.detach().cpu().contiguous()
    h = hashlib.md5(f"{t.dtype}{tuple(t.shape)}".encode())
    try:
        h.update(t.numpy().tobytes())
    except (TypeError, RuntimeError):  # bfloat16 and friends have no numpy dtype
        h.update(repr(t.tolist()).encode())
    return f"Tensor {t.dtype} {tuple(t.shape)} md5:{h.hexdigest()}"
