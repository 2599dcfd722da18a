"""The parameter base class researchers subclass, as curifactory defines it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cfcompile import hashing


def set_hash_functions(*args: dict, **kwargs: Callable | None) -> Any:
    """A dataclass field holding ``hash_representations``, so users avoid default_factory noise.

    ``None`` excludes a parameter from the hash (operational settings such as GPU counts); a
    function ``(param_set, value) -> representation`` replaces ``repr`` for that parameter.
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


@dataclass
class ExperimentParameters:
    """Base class of every parameter set: a name plus the fields curifactory reserves.

    ``hash`` is filled in when a record first uses the set (and a preset value is kept, which
    pins cache names); ``overwrite`` forces the stages of this set to rerun.
    """

    name: str = "UNNAMED"
    hash: str | None = None
    overwrite: bool = False
    hash_representations: dict[str, Callable | None] = field(default_factory=dict, repr=False)

    def params_hash(self, dry: bool = False) -> str | dict:
        return hashing.params_hash(self, dry=dry)
