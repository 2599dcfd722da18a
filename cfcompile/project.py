"""Finding and loading a project's experiments and parameter sets, as curifactory's CLI does.

A project is a directory holding ``experiments/`` (modules with ``run(param_sets, manager)``)
and ``params/`` (modules with ``get_params()``). The project root goes first on ``sys.path`` so
that ``from params import Params`` works exactly as under curifactory. Module names are
curifactory's too: ``subexp.example`` is ``experiments/subexp/example.py``, and file names need
not be identifiers (``reload-reportables``); ``cfcompile/modules.py`` finds and imports them.

Parameter sets are checked here, once, before anything runs: preset hashes, duplicate names,
hashes that would differ between processes, and (for compiled runs) pickling.
"""

from __future__ import annotations

import ast
import logging
import os
import pickle
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cfcompile import compat as _compat
from cfcompile import modules
from cfcompile.errors import ParamsError, ProjectError
from cfcompile.hashing import (
    ADDRESS,
    LAMBDA,
    RAISED,
    check_preset_hash,
    params_hash,
    representation_problems,
)
from cfcompile.params import ExperimentParameters

log = logging.getLogger("cfcompile")

EXPERIMENTS = "experiments"
PARAMS = "params"


@dataclass
class ModuleInfo:
    kind: str  # "experiments" or "params"
    name: str
    path: Path
    doc: str
    has_run: bool
    has_get_params: bool
    error: str | None


@dataclass(frozen=True)
class Origin:
    """Where a parameter set came from: its -p module, that module's file and the list index."""

    pname: str
    source: str
    index: int

    @property
    def label(self) -> str:
        return f"{self.source} item {self.index}"


class Project:
    """One project directory; ``activate()`` makes its modules importable."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        if not (self.root / EXPERIMENTS).is_dir():
            raise ProjectError(
                f"{self.root} has no '{EXPERIMENTS}/' folder: a project keeps experiment modules "
                f"there (and parameter modules in '{PARAMS}/'). Pass --project DIR."
            )

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Project:
        """``start`` itself if given, else the nearest directory upward holding experiments/."""
        if start is not None:
            return cls(start)
        here = Path.cwd().resolve()
        for candidate in (here, *here.parents):
            if (candidate / EXPERIMENTS).is_dir():
                return cls(candidate)
        raise ProjectError(
            f"no '{EXPERIMENTS}/' folder in {here} or any parent: run cfcompile from a project "
            "directory or pass --project DIR"
        )

    def activate(self, compat: bool = True) -> None:
        """Put the project first on sys.path; alias ``curifactory`` to cfcompile if asked."""
        root = str(self.root)
        if root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
        if compat:
            _compat.install()

    # -- listing ---------------------------------------------------------------------------
    def module_files(self, kind: str) -> dict[str, Path]:
        """Modules of ``experiments/`` or ``params/`` (subfolders too), by the name to pass."""
        return modules.list_modules(self.root, kind)

    def module_path(self, kind: str, name: str) -> Path | None:
        """The file ``name`` means (``sub.exp`` is ``sub/exp.py``), or None."""
        return modules.module_file(self.root, kind, name)

    def describe(self, kind: str) -> list[ModuleInfo]:
        """Every module of a kind, imported, with its docstring or the error importing it."""
        self.activate()
        infos = []
        for name, path in self.module_files(kind).items():
            doc, error, has_run, has_params = _static_doc(path), None, False, False
            try:
                module = modules.import_project_module(self.root, kind, name)
                has_run = callable(getattr(module, "run", None))
                has_params = callable(getattr(module, "get_params", None))
                doc = (module.__doc__ or doc or "").strip()
            except BaseException as exc:  # noqa: BLE001 - ls reports, never crashes
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            infos.append(ModuleInfo(kind, name, path, doc, has_run, has_params, error))
        return infos

    # -- loading ---------------------------------------------------------------------------
    def load(self, kind: str, name: str) -> ModuleType:
        """Import ``kind/NAME`` as curifactory does: ``sub.exp`` is ``sub/exp.py``, and file
        names need not be identifiers (``reload-reportables``)."""
        path = self.module_path(kind, name)
        if path is None:
            have = ", ".join(self.module_files(kind)) or "none"
            looked = self.root / kind / (name.replace(".", os.sep) + ".py")
            hint = ""
            if any(c in name for c in "/\\"):
                dotted = ".".join(
                    part for part in name.removesuffix(".py").replace("\\", "/").split("/") if part
                )
                hint = f" (name subfolders with dots: {dotted})"
                looked = self.root / kind / name
            raise ProjectError(
                f"no {kind[:-1]} module '{name}': looked for {looked}{hint}; "
                f"available in {kind}/: {have}"
            )
        self.activate()
        try:
            return modules.import_project_module(self.root, kind, name)
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            raise ProjectError(f"importing {path} failed: {detail}") from exc

    def experiment(self, name: str) -> ModuleType:
        module = self.load(EXPERIMENTS, name)
        if not callable(getattr(module, "run", None)):
            raise ProjectError(
                f"{module.__file__} has no run(param_sets, manager) function: an experiment "
                "module must define one"
            )
        return module

    def params_module(self, name: str) -> ModuleType:
        """A parameter module: ``params/NAME.py``, else an experiment file's own get_params()."""
        if self.module_path(PARAMS, name) is not None:
            module = self.load(PARAMS, name)
        elif self.module_path(EXPERIMENTS, name) is not None:
            module = self.load(EXPERIMENTS, name)
        else:
            have = sorted(
                set(self.module_files(PARAMS))
                | {
                    n
                    for n, p in self.module_files(EXPERIMENTS).items()
                    if "get_params" in p.read_text(errors="replace")
                }
            )
            raise ProjectError(
                f"no parameter module '{name}' in {self.root / PARAMS} or "
                f"{self.root / EXPERIMENTS}; available: {', '.join(have) or 'none'}"
            )
        if not callable(getattr(module, "get_params", None)):
            raise ProjectError(
                f"{module.__file__} has no get_params() function: a parameter module must define "
                "one that returns a list of parameter sets"
            )
        return module

    def param_sets(
        self,
        experiment: str,
        param_names: list[str] | None = None,
        names: list[str] | None = None,
        indices: list[str] | None = None,
        for_jobs: bool = True,
    ) -> list[Any]:
        """``-p`` modules' get_params() combined in order, then the --names/--indices filters.

        Every chosen set is checked here, before anything runs: its hash must be the same in
        every process, and with ``for_jobs`` (compiling) it must pickle, because the workflow's
        jobs receive it pickled. An eager run only needs the first.
        """
        if not param_names:
            module = self.load(EXPERIMENTS, experiment)
            if not callable(getattr(module, "get_params", None)):
                raise ProjectError(
                    f"experiment '{experiment}' ({module.__file__}) has no get_params() of its "
                    f"own: pass -p NAME (available: "
                    f"{', '.join(self.module_files(PARAMS)) or 'none'})"
                )
            param_names = [experiment]
        loaded: list[tuple[Any, Origin]] = []
        for pname in param_names:
            module = self.params_module(pname)
            for i, p in enumerate(
                checked_params(call_get_params(module, self.root), module.__file__)
            ):
                origin = Origin(pname, module.__file__, i)
                check_preset_hash(p, origin.label)
                loaded.append((p, origin))
        refuse_duplicate_names([p for p, _ in loaded], [o for _, o in loaded])
        if names:
            wanted = set(names)
            unknown = wanted - {p.name for p, _ in loaded}
            if unknown:
                raise ParamsError(
                    f"--names {sorted(unknown)} match no parameter set; available: "
                    f"{[p.name for p, _ in loaded]}"
                )
            loaded = [(p, o) for p, o in loaded if p.name in wanted]
        if indices:
            chosen = parse_indices(indices, len(loaded))
            loaded = [loaded[i] for i in chosen]
        if not loaded:
            raise ParamsError(f"no parameter sets to run for experiment '{experiment}'")
        for p, origin in loaded:
            check_representations(p, origin.label, warn_lambdas=not for_jobs)
        if for_jobs:
            check_pickles(loaded)
        sets = [p for p, _ in loaded]
        warn_duplicates(sets)
        return sets

    def select(
        self,
        experiment: str,
        param_names: list[str] | None,
        names: list[str] | None = None,
        indices: list[str] | None = None,
        for_jobs: bool = True,
    ) -> tuple[ModuleType, list[Any]]:
        """The experiment module and its chosen parameter sets: what eager and compile share."""
        module = self.experiment(experiment)
        return module, self.param_sets(experiment, param_names, names, indices, for_jobs)

    def cache_path(self, cache_path: str | None) -> str:
        """Absolute cache folder: compiled jobs may run from any working directory."""
        path = Path(cache_path) if cache_path else self.root / "data" / "cache"
        if not path.is_absolute():
            path = Path.cwd() / path
        return str(path.resolve())


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
                f"{source}: get_params() item {i} is a {type(item).__name__} ({item!r:.80}), "
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
        if problem.kind == ADDRESS:
            why = (
                f"is hashed by its repr, {problem.detail}, which contains a memory address, so "
                "the set gets a new hash in every process (new cache files on every run, and "
                "compiled jobs refusing the set as changed). Give the value's class a __repr__ "
                "that shows only its settings, or "
            )
            example = "str(...)"
        else:
            why = (
                f"holds a set whose items hash differently in every process (strings, bytes, "
                f"dates, enums: PYTHONHASHSEED), {problem.detail}; a set's repr lists its items "
                "in that changing order, so the set gets a new hash in every process. Use a "
                "sorted list or tuple, or "
            )
            example = "str(sorted(obj))"
        raise ParamsError(
            f"{head} {why}" + HASH_FUNCTIONS_HELP.format(owner=owner, key=key, example=example)
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
            shown = repr(value)
            shown = shown if len(shown) <= 100 else shown[:97] + "..."
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


def _static_doc(path: Path) -> str:
    try:
        return ast.get_docstring(ast.parse(path.read_text())) or ""
    except (SyntaxError, OSError, ValueError):
        return ""
