"""Describing many parameter sets briefly: grids, random search, seed repetitions.

Mark a field's default with ``search(a, b, ...)`` (superparams' style) and expand a base set
with ``grid(base)``; or sample ``random_search(base, n, seed=...)`` (experiment_runner's
``Variation`` + ``generate_configs``). Nested dataclasses are searched too (dotted names).
Expanded sets get deterministic, readable names, so cache files and result rows are easy to
tell apart; ``repeat(params, k)`` is curifactory's ``seed_set`` pattern.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import random
from dataclasses import fields, is_dataclass, replace
from typing import Any

from cfcompile.hashing import compute_hash
from cfcompile.values import is_number

log = logging.getLogger("cfcompile")


class Search:
    """A set of choices standing in for a parameter value until the space is expanded."""

    __slots__ = ("choices",)

    def __init__(self, *choices: Any):
        if len(choices) == 1 and isinstance(choices[0], list | tuple | range):
            choices = tuple(choices[0])
        if not choices:
            raise ValueError("search() needs at least one choice")
        self.choices = tuple(choices)

    def __repr__(self) -> str:
        return f"search{self.choices!r}"

    def __hash__(self) -> int:  # hashable, so it is accepted as a dataclass default
        return hash(tuple(map(repr, self.choices)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Search) and self.choices == other.choices


def search(*choices: Any) -> Any:
    """``batch_size: int = search(16, 32)``: a field searched over by grid()/random_search()."""
    return Search(*choices)


Variation = search  # experiment_runner's spelling: Variation([1, 2, 3])


def _axes(obj: Any, prefix: str = "") -> list[tuple[str, tuple]]:
    """(dotted name, choices) for every Search in obj and its nested dataclasses, in order."""
    out = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Search):
            out.append((prefix + f.name, value.choices))
        elif is_dataclass(value) and not isinstance(value, type):
            out.extend(_axes(value, f"{prefix}{f.name}."))
    return out


def _set(obj: Any, dotted: str, value: Any) -> Any:
    head, _, rest = dotted.partition(".")
    if not rest:
        return replace(obj, **{head: value})
    return replace(obj, **{head: _set(getattr(obj, head), rest, value)})


def label(value: Any) -> str:
    """A short readable rendering of a value for parameter-set names."""
    if isinstance(value, type) or callable(value):
        return getattr(value, "__name__", repr(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace(" ", "")


def _name(base: Any, choice: dict[str, Any]) -> str:
    parts = [
        f"{k.split('.')[-1] if _unique_leaf(k, choice) else k}={label(v)}"
        for k, v in choice.items()
    ]
    return "_".join([base.name, *parts]) if parts else base.name


def _unique_leaf(key: str, choice: dict) -> bool:
    leaf = key.split(".")[-1]
    return sum(1 for k in choice if k.split(".")[-1] == leaf) == 1


def space(base: Any, **overrides: Any) -> list[tuple[str, tuple]]:
    """The search axes of ``base`` (plus keyword overrides: ``lr=[0.1, 0.01]``)."""
    base = _apply_overrides(base, overrides)
    return _axes(base)


def _apply_overrides(base: Any, overrides: dict[str, Any]) -> Any:
    for key, value in overrides.items():
        dotted = key.replace("__", ".")
        base = _set(base, dotted, value if isinstance(value, Search) else Search(*value))
    return base


def _make(base: Any, choice: dict[str, Any]) -> Any:
    out = copy.deepcopy(base)
    for key, value in choice.items():
        out = _set(out, key, value)
    out.name = _name(base, choice)
    out.hash = None
    return out


def grid(base: Any, **overrides: Any) -> list[Any]:
    """Every combination of the searched fields, in field order (the last varies fastest)."""
    base = _apply_overrides(base, overrides)
    axes = _axes(base)
    keys = [k for k, _ in axes]
    return [
        _make(base, dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*(c for _, c in axes))
    ]


def space_size(base: Any, **overrides: Any) -> int:
    return math.prod(len(c) for _, c in space(base, **overrides))


def random_search(base: Any, n: int, seed: int = 0, **overrides: Any) -> list[Any]:
    """``n`` distinct random configurations (fewer, with a warning, if the space is smaller).

    Reproducible: the same base, n and seed give the same sets in the same order. Sampling is
    by index into the grid without replacement, so it never repeats and never loops forever.
    """
    base = _apply_overrides(base, overrides)
    axes = _axes(base)
    size = math.prod(len(c) for _, c in axes)
    if n > size:
        log.warning("random_search: asked for %d configurations but the space holds %d", n, size)
        n = size
    rng = random.Random(seed)
    picks = rng.sample(range(size), n)
    keys = [k for k, _ in axes]
    out = []
    for index in picks:
        choice = {}
        for key, (_, choices) in zip(reversed(keys), reversed(axes), strict=True):
            index, i = divmod(index, len(choices))
            choice[key] = choices[i]
        out.append(_make(base, {k: choice[k] for k in keys}))
    return out


def repeat(params: Any, k: int = 5, field: str = "seed", start: int = 0) -> list[Any]:
    """``k`` copies of a parameter set with ``field`` = start..start+k-1, named ``_seedI``."""
    if not any(f.name == field for f in fields(params)):
        raise ValueError(f"repeat(): {type(params).__name__} has no field '{field}'")
    out = []
    for i in range(start, start + k):
        new = copy.deepcopy(params)
        setattr(new, field, i)
        new.name = f"{params.name}_{field}{i}"
        new.hash = None
        out.append(new)
    return out


def configuration_key(params: Any, field: str = "seed") -> str:
    """The hash of a parameter set with the repetition field left out: same key = repeats."""
    probe = copy.deepcopy(params)
    reps = dict(getattr(probe, "hash_representations", {}) or {})
    reps[field] = None
    probe.hash_representations = reps
    return compute_hash(probe)


def mean_std(metrics: dict[Any, dict[str, float]], field: str = "seed") -> dict[str, dict]:
    """Group repeated runs (records differing only in ``field``) and summarize each metric.

    ``metrics`` is an aggregate input, ``{record: {"accuracy": 0.9, ...}}``. Returns, per
    configuration (named by its first record with the ``_seedN`` suffix removed):
    ``mean_M`` and ``std_M`` (population std, as numpy's default) of every numeric metric,
    ``n`` and the member names: experiment_runner's reserved ``mean_$M``/``std_$M`` columns.
    """
    groups: dict[str, list[tuple[Any, dict]]] = {}
    for record, values in metrics.items():
        groups.setdefault(configuration_key(record.params, field), []).append((record, values))
    out = {}
    for members in groups.values():
        first = members[0][0].params
        name = first.name
        suffix = f"_{field}{getattr(first, field, '')}"
        if name.endswith(suffix):
            name = name[: -len(suffix)]
        summary: dict[str, Any] = {
            "n": len(members),
            "members": [r.params.name for r, _ in members],
        }
        keys = [k for k, v in members[0][1].items() if is_number(v)]
        for key in keys:
            vals = [float(v[key]) for _, v in members if key in v]
            mean = sum(vals) / len(vals)
            summary[f"mean_{key}"] = mean
            summary[f"std_{key}"] = math.sqrt(sum((x - mean) ** 2 for x in vals) / len(vals))
        out[name] = summary
    return out
