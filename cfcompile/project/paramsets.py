"""Parameter sets as get_params() returns them: called, checked, named and selected.

Every check says which file and which list item is at fault, because a sweep of thousands of
sets is built by code and the researcher needs to find the one bad entry: the wrong type, a
duplicate name, a value whose hash differs between processes, a set that cannot be pickled
for the workflow's jobs.
"""

from __future__ import annotations

import logging
import os
import pickle
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cfcompile.errors import ParamsError
from cfcompile.hashing import params_hash
from cfcompile.params import ExperimentParameters
from cfcompile.project.representations import (
    ADDRESS,
    LAMBDA,
    LOSSY,
    RAISED,
    UNSTABLE,
    Problem,
    representation_problems,
)
from cfcompile.values import preview

log = logging.getLogger("cfcompile")


@dataclass(frozen=True)
class Origin:
    """Where a parameter set came from: its -p module, that module's file and the list index."""

    pname: str
    source: str
    index: int

    @property
    def label(self) -> str:
        return f"{self.source} item {self.index}"


def call_get_params(module: ModuleType, root: Path) -> Any:
    """``module.get_params()``, turning an exception into one message (ParamsError).

    The message names the parameter file, the exception and the project line that raised, so
    a researcher sees at once which file to fix; the traceback is logged at debug level
    (``-v`` shows it) for the cases where the line is not enough.
    """
    try:
        return module.get_params()
    except Exception as exc:
        log.debug("get_params() of %s raised", module.__file__, exc_info=True)
        frames = traceback.extract_tb(exc.__traceback__)[1:]  # [0] is this call
        ours = [f for f in frames if os.path.abspath(f.filename).startswith(f"{root}{os.sep}")]
        at = ""
        if ours or frames:
            where = (ours or frames)[-1]
            at = f" (raised at {where.filename}:{where.lineno}: {(where.line or '').strip()})"
        raise ParamsError(
            f"{module.__file__}: get_params() raised {type(exc).__name__}: {exc}{at}; fix "
            "get_params() (run with -v for the traceback)"
        ) from exc


def checked_params(value: Any, source: str) -> list[Any]:
    """The list get_params() returned, or an error naming the file and the bad entry."""
    if not isinstance(value, list | tuple):
        raise ParamsError(
            f"{source}: get_params() returned {type(value).__name__}, not a list of "
            "ExperimentParameters"
        )
    for i, item in enumerate(value):
        if not isinstance(item, ExperimentParameters):
            raise ParamsError(
                f"{source}: get_params() item {i} is a {type(item).__name__} "
                f"({preview(item, 80)}), "
                "not an ExperimentParameters instance; subclass cf.ExperimentParameters with "
                "@dataclass"
            )
    return list(value)


HASH_FUNCTIONS_HELP = (
    "tell the hash how to represent the field, in {owner}:\n"
    "    hash_representations: dict = cf.set_hash_functions({key}=lambda self, obj: {example})\n"
    "({key}=None leaves the field out of the hash; curifactory reads the same declaration)"
)


def check_representations(param_set: Any, where: str, warn_lambdas: bool = True) -> None:
    """Refuse a set whose hash cannot be the same in every process; warn about lambdas.

    Otherwise each compile (and each job) would compute another hash: new cache files every
    time, and jobs refusing the set as changed. The message says which field and how to fix it
    with curifactory's ``hash_representations``. (A compile refuses lambdas anyway, since they
    do not pickle, so it passes ``warn_lambdas=False`` rather than warn and then refuse.)
    """
    name = getattr(param_set, "name", "?")
    for problem in representation_problems(param_set):
        head = f"{where}: parameter set '{name}': field '{problem.field}'"
        key, owner = problem.key, problem.owner
        if problem.kind == LAMBDA:
            if not warn_lambdas:
                continue
            log.warning(
                "%s is a lambda, and every lambda hashes as '<lambda>': sets that differ only "
                "in this function share one hash and one set of cache files; use a named "
                "function (def) instead",
                head,
            )
            continue
        if problem.kind == RAISED:
            raise ParamsError(
                f"{head}: computing its hash representation failed ({problem.detail}); fix the "
                "value or its hash function, or "
                + HASH_FUNCTIONS_HELP.format(owner=owner, key=key, example="str(...)")
            )
        why, example = _why(problem)
        raise ParamsError(
            f"{head} {why}" + HASH_FUNCTIONS_HELP.format(owner=owner, key=key, example=example)
        )


def _why(problem: Problem) -> tuple[str, str]:
    """What is wrong with a field's representation, and the hash function to suggest."""
    if problem.kind == ADDRESS:
        return (
            f"is hashed by its repr, {problem.detail}, which contains a memory address, so "
            "the set gets a new hash in every process (new cache files on every run, and "
            "compiled jobs refusing the set as changed). Give the value's class a __repr__ "
            "that shows only its settings, or ",
            "str(...)",
        )
    if problem.kind == LOSSY:
        return (
            f"holds {problem.detail}: two different values would get one hash and share one "
            "cache, and the second would be served the first one's results. Hash it by its "
            "content: set hash_by_content = True (a class attribute) on the parameter class, "
            "or ",
            "cfcompile.hashing.content_digest(self, obj)",
        )
    if problem.kind == UNSTABLE:
        return (
            f"is hashed by its repr, {problem.detail}, which is not the same twice in a row (a "
            "time, a counter, a random id?), so the set gets a new hash at every compile and "
            "no cache is ever found. Give the value's class a __repr__ that shows only its "
            "settings, or ",
            "str(...)",
        )
    return (
        f"holds a set whose items hash differently in every process (strings, bytes, "
        f"dates, enums: PYTHONHASHSEED), {problem.detail}; a set's repr lists its items "
        "in that changing order, so the set gets a new hash in every process. Use a "
        "sorted list or tuple, or ",
        "str(sorted(obj))",
    )


def check_pickles(loaded: list[tuple[Any, Origin]]) -> None:
    """Every set must pickle: the compiled workflow's jobs receive their parameter set that way.

    Pickling fails late otherwise (while the workflow files are written, as a bare
    traceback); here the message names the set, its file and the field that does not pickle.
    """
    try:
        pickle.dumps([p for p, _ in loaded], protocol=4)
        return
    except Exception:  # noqa: BLE001 - find the culprit below
        pass
    for p, origin in loaded:
        try:
            pickle.dumps(p, protocol=4)
        except Exception as exc:  # noqa: BLE001 - any pickling failure is reported the same way
            raise ParamsError(_pickle_message(p, origin, exc)) from exc


def _pickle_message(param_set: Any, origin: Origin, exc: Exception) -> str:
    head = (
        f"{origin.label}: parameter set '{param_set.name}' cannot be pickled, so it cannot be "
        "sent to the compiled workflow's jobs"
    )
    state = param_set.__getstate__() if hasattr(param_set, "__getstate__") else {}
    for key, value in (state or {}).items():
        try:
            pickle.dumps(value, protocol=4)
        except Exception as field_exc:  # noqa: BLE001
            shown = preview(value, 100)
            return (
                f"{head}: field '{key}' holds {shown} ({type(field_exc).__name__}: {field_exc}). "
                "Use a function or class defined at module level (lambdas and functions defined "
                "inside other functions cannot be pickled), or keep a plain setting in the "
                "parameter set and build the object inside a stage"
            )
    cls = type(param_set)
    return (
        f"{head}: its class {cls.__qualname__} cannot be found by name ({type(exc).__name__}: "
        f"{exc}); define the class at module level of {origin.source}, not inside a function"
    )


def parse_indices(specs: list[str], count: int) -> list[int]:
    """``3``, ``1-4`` (inclusive) or ``5:`` style selections, in the order given."""
    chosen: list[int] = []
    for spec in specs:
        for part in str(spec).split(","):
            part = part.strip()
            try:
                if "-" in part or ":" in part:
                    lo_s, hi_s = part.replace(":", "-").split("-", 1)
                    lo = int(lo_s) if lo_s else 0
                    hi = int(hi_s) if hi_s else count - 1
                    rng = range(lo, hi + 1)
                else:
                    rng = range(int(part), int(part) + 1)
            except ValueError:
                raise ParamsError(f"--indices: '{part}' is not N, N-M or N:") from None
            for i in rng:
                if not 0 <= i < count:
                    raise ParamsError(f"--indices: {i} is out of range (there are {count} sets)")
                if i not in chosen:
                    chosen.append(i)
    return chosen


def refuse_duplicate_names(sets: list[Any], origins: list[Origin]) -> None:
    """A name must pick out one parameter set: refuse two sets that share one.

    ``--names``, reports, the results table and the job's recompile check (which looks a set up
    again by name) all take a name to mean one set, so two different sets under one name would
    silently be mixed up. Identical duplicates (same name, same hash) are refused as well: run()
    would get the set twice, and any aggregate would count it twice.
    """
    first: dict[Any, int] = {}
    for k, p in enumerate(sets):
        j = first.setdefault(p.name, k)
        if j == k:
            continue
        a, b = origins[j], origins[k]
        if a.pname == b.pname and a.index == b.index:
            raise ParamsError(
                f"-p {a.pname} is given twice, so its parameter set '{p.name}' ({a.label}) "
                "would run twice: give each -p module once"
            )
        ha, hb = _hash_or_none(sets[j]), _hash_or_none(p)
        if ha == hb:
            raise ParamsError(
                f"parameter set '{p.name}' is listed twice with the same values (hash {ha}): "
                f"{a.label} and {b.label}; run() would get it twice and an aggregate would count "
                "it twice: drop one of them"
            )
        raise ParamsError(
            f"two different parameter sets are named '{p.name}': {a.label} (hash {ha}) and "
            f"{b.label} (hash {hb}); a name must identify one set (--names, reports, results, "
            "the recompile check): rename one of them"
        )


def _hash_or_none(param_set: Any) -> str | None:
    try:
        return params_hash(param_set)
    except Exception:  # noqa: BLE001 - the set's own check reports a failing hash
        return None


def warn_duplicates(sets: list[Any]) -> None:
    """Same hash with different names shares cache files; the researcher should know."""
    by_hash: dict[str, Any] = {}
    for p in sets:
        h = params_hash(p)
        other = by_hash.setdefault(h, p)
        if other is not p and other.name != p.name:
            log.warning(
                "parameter sets '%s' and '%s' have the same hash %s: they share cache files "
                "(give them a differing parameter, or drop one)",
                other.name,
                p.name,
                h,
            )
