"""The parameter base class researchers subclass, as curifactory defines it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields

from cfcompile import hashing
from cfcompile.hashing import set_hash_functions

__all__ = ["ExperimentParameters", "set_hash_functions"]


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

    # -- pickling: parameter sets travel to the compiled workflow's jobs --------------------
    def __getstate__(self) -> dict:
        """The instance's fields, minus hash functions the class itself declares.

        curifactory's documented ``hash_representations = cf.set_hash_functions(x=lambda ...)``
        holds lambdas, which pickle cannot store. They are part of the class, not of the set's
        values, so they are left out and rebuilt from the class when the set is unpickled (in a
        job). Hash functions set on one instance only are kept, and must pickle.
        """
        state = dict(self.__dict__)
        reps = state.get("hash_representations")
        if reps and _same_functions(reps, class_hash_representations(type(self))):
            del state["hash_representations"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "hash_representations" not in state:
            self.__dict__["hash_representations"] = class_hash_representations(type(self))


def class_hash_representations(cls: type) -> dict:
    """A fresh copy of the ``hash_representations`` a parameter class declares as its default."""
    for f in fields(cls):
        if f.name == "hash_representations":
            if f.default_factory is not MISSING:
                return dict(f.default_factory())
            if f.default is not MISSING and f.default is not None:
                return dict(f.default)
    return {}


def _same_functions(reps: dict, default: dict) -> bool:
    """Are these the class's own hash functions (the same objects, or the same code)?"""
    if reps.keys() != default.keys():
        return False
    for key, fn in reps.items():
        other = default[key]
        if fn is other:
            continue
        code = getattr(fn, "__code__", None)
        same_code = code is not None and code == getattr(other, "__code__", None)
        if not (same_code and fn.__closure__ is None and other.__closure__ is None):
            return False
    return True
