"""Finding and loading a project's experiments and parameter sets, as curifactory's CLI does.

A project is a directory holding ``experiments/`` (modules with ``run(param_sets, manager)``)
and ``params/`` (modules with ``get_params()``), or whatever folders its
``curifactory_config.json`` names instead (``experiments_module_name``, ``params_module_name``;
its ``cache_path`` and ``reports_path`` are honoured too, relative to the project root). The
project root goes on ``sys.path`` (last, as curifactory appends it: ``project/imports.py``) so
that ``from params import Params`` works exactly as under curifactory. Module names are
curifactory's too: ``subexp.example`` is ``experiments/subexp/example.py``, and file names
need not be identifiers (``reload-reportables``); ``cfcompile/project/modules.py`` finds and
imports them.

Parameter sets are checked here, once, before anything runs: preset hashes, duplicate names,
hashes that would differ between processes, and (for compiled runs) pickling.
"""

from __future__ import annotations

import ast
import difflib
import logging
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cfcompile import compat as _compat
from cfcompile.errors import ParamsError, ProjectError
from cfcompile.hashing import (
    check_preset_hash,
)
from cfcompile.project import modules
from cfcompile.project.imports import use_project_root
from cfcompile.project.paramsets import (
    Origin,
    call_get_params,
    check_pickles,
    check_representations,
    checked_params,
    parse_indices,
    refuse_duplicate_names,
    warn_duplicates,
)
from cfcompile.utils import CONFIGURATION_FILE

log = logging.getLogger("cfcompile")

EXPERIMENTS = "experiments"
PARAMS = "params"
"""The two kinds of project modules; their folders come from the configuration."""


@dataclass
class ModuleInfo:
    kind: str  # "experiments" or "params"
    name: str
    path: Path
    doc: str
    has_run: bool
    has_get_params: bool
    error: str | None


class Project:
    """One project directory; ``activate()`` makes its modules importable."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.config = modules.configuration(self.root)
        folder = self.folder(EXPERIMENTS)
        if not folder.is_dir():
            configured = self.root / CONFIGURATION_FILE
            if configured.is_file():
                raise ProjectError(
                    f"{self.root} has no folder {folder}, which {configured} names as its "
                    f"experiments (experiments_module_name "
                    f"{self.config['experiments_module_name']!r}): create it or fix the file"
                )
            raise ProjectError(
                f"{self.root} has no '{EXPERIMENTS}/' folder: a project keeps experiment modules "
                f"there (and parameter modules in '{PARAMS}/'). Pass --project DIR."
            )

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Project:
        """``start`` itself if given, else the nearest directory upward holding
        ``curifactory_config.json`` or ``experiments/`` (a configured project need not have
        an experiments/ folder).

        An ``experiments/`` folder that a configuration further up names as its experiments
        folder belongs to that project (curifactory's own test layout: ``test/examples/
        experiments`` configured at the repository root), so from ``test/examples`` the root
        is found, not ``test/examples``.
        """
        if start is not None:
            return cls(start)
        here = Path.cwd().resolve()
        for candidate in (here, *here.parents):
            if (candidate / CONFIGURATION_FILE).is_file():
                return cls(candidate)
            if (candidate / EXPERIMENTS).is_dir():
                return cls(_configured_owner(candidate / EXPERIMENTS) or candidate)
        raise ProjectError(
            f"no '{EXPERIMENTS}/' folder or {CONFIGURATION_FILE} in {here} or any parent: run "
            "cfcompile from a project directory or pass --project DIR"
        )

    def folder(self, kind: str) -> Path:
        """Where a kind's modules live: ``experiments/``, or the configured folder."""
        return modules.folder(self.root, kind)

    def path(self, key: str) -> str:
        """A configured ``*_path`` (``cache_path``, ``reports_path``, ...) as an absolute path:
        relative values are relative to the project root, where curifactory runs."""
        return str((self.root / self.config[key]).resolve())

    def activate(self, compat: bool = True) -> None:
        """Put the project on sys.path (``imports.use_project_root``: after the interpreter's own
        entries, as curifactory appends it); alias ``curifactory`` to cfcompile if asked."""
        use_project_root(str(self.root))
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
            folder = self.folder(kind)
            looked = folder / (name.replace(".", os.sep) + ".py")
            hint = ""
            if any(c in name for c in "/\\"):
                dotted = ".".join(
                    part for part in name.removesuffix(".py").replace("\\", "/").split("/") if part
                )
                hint = f" (name subfolders with dots: {dotted})"
                looked = folder / name
            raise ProjectError(
                f"no {kind[:-1]} module '{name}': looked for {looked}{hint}; "
                f"available in {folder.relative_to(self.root)}/: {have}"
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
                f"no parameter module '{name}' in {self.folder(PARAMS)} or "
                f"{self.folder(EXPERIMENTS)}; available: {', '.join(have) or 'none'}"
            )
        if not callable(getattr(module, "get_params", None)):
            raise ProjectError(
                f"{module.__file__} has no get_params() function: a parameter module must define "
                "one that returns a list of parameter sets"
            )
        return module

    def load_param_sets(
        self, experiment: str, param_names: list[str] | None
    ) -> list[tuple[Any, Origin]]:
        """Every ``-p`` module's get_params() in order, with where each set came from.

        Without ``-p``, curifactory's rule: ``params/EXPERIMENT.py`` if there is one, else the
        experiment file's own get_params(). Preset hashes are checked and two sets sharing a
        name are refused here, before any selection.
        """
        if not param_names:
            if self.module_path(PARAMS, experiment) is None:
                module = self.load(EXPERIMENTS, experiment)
                if not callable(getattr(module, "get_params", None)):
                    raise ProjectError(
                        f"experiment '{experiment}' ({module.__file__}) has no get_params() of "
                        f"its own: pass -p NAME (available: "
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
        return loaded

    def param_sets(
        self,
        experiment: str,
        param_names: list[str] | None = None,
        names: list[str] | None = None,
        indices: list[str] | None = None,
        for_jobs: bool = True,
    ) -> list[Any]:
        """``-p`` modules' get_params() combined in order, then the --names/--indices filters."""
        loaded = self.load_param_sets(experiment, param_names)
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
        return checked_selection(loaded, experiment, for_jobs)

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

    def import_modules(self, experiment: str, param_names: list[str] | None) -> None:
        """Import the experiment and its ``-p`` modules without calling anything in them."""
        self.experiment(experiment)
        for name in param_names or ():
            self.params_module(name)

    def cache_path(self, cache_path: str | None) -> str:
        """Absolute cache folder: compiled jobs may run from any working directory.

        ``--cache-path`` is relative to the working directory; without it, the configured
        ``cache_path`` (``data/cache``) is relative to the project root.
        """
        if not cache_path:
            return self.path("cache_path")
        path = Path(cache_path)
        if not path.is_absolute():
            path = Path.cwd() / path
        return str(path.resolve())

    def name_hints(self, experiment: str, params: list[str] | None) -> list[str]:
        """ "did you mean" for an experiment or parameter module name that names no file.

        Only asked after the project refused a name (``driver.pipeline.suggesting``), so a correct
        command pays nothing; the project's own message (what it looked for, what exists)
        stays first.
        """
        hints = []
        experiments = self.module_files(EXPERIMENTS)
        if self.module_path(EXPERIMENTS, experiment) is None:
            hint = did_you_mean(experiment, list(experiments))
            hints += [f"experiment '{experiment}': {hint}"] if hint else []
        param_files = [
            *self.module_files(PARAMS),
            *(n for n, p in experiments.items() if "get_params" in p.read_text(errors="replace")),
        ]
        for name in params or []:
            if self.module_path(PARAMS, name) is None and name not in param_files:
                hint = did_you_mean(name, param_files)
                hints += [f"-p {name}: {hint}"] if hint else []
        return hints

    def manager_paths(self) -> dict[str, str]:
        """The configured folders an ArtifactManager keeps (all but the cache), absolute."""
        keys = ("manager_cache_path", "runs_path", "logs_path", "notebooks_path")
        return {key: self.path(key) for key in (*keys, "reports_path", "report_css_path")}

    def watched_files(self, experiment: str, param_names: list[str] | None) -> list[str]:
        """Files whose edits a compiled job must notice (its recompile check): the experiment,
        every ``-p`` module (subfolders included) and the top of the parameter folder."""
        paths = {str(p) for p in self.folder(PARAMS).glob("*.py")}
        for name in param_names or [experiment]:
            path = self.module_path(PARAMS, name) or self.module_path(EXPERIMENTS, name)
            paths.update([str(path)] if path is not None else [])
        path = self.module_path(EXPERIMENTS, experiment)
        paths.update([str(path)] if path is not None else [])
        return sorted(paths)


def did_you_mean(word: str, choices: list[str]) -> str:
    """``did you mean 'iris'?`` for close matches of a misspelt name, else ``""``."""
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _configured_owner(folder: Path) -> Path | None:
    """The directory further up whose configuration names ``folder`` as its experiments."""
    for parent in folder.parent.parents:
        if (parent / CONFIGURATION_FILE).is_file():
            try:
                if modules.folder(parent, EXPERIMENTS) == folder:
                    return parent
            except ProjectError:  # a broken file further up: not this project's business
                continue
    return None


def checked_selection(
    loaded: list[tuple[Any, Origin]], experiment: str, for_jobs: bool = True
) -> list[Any]:
    """The chosen sets, each checked before anything runs.

    A set's hash must be the same in every process, and with ``for_jobs`` (compiling) it must
    pickle, because the workflow's jobs receive it pickled. An eager run only needs the first.
    """
    if not loaded:
        raise ParamsError(f"no parameter sets to run for experiment '{experiment}'")
    for p, origin in loaded:
        check_representations(p, origin.label, warn_lambdas=not for_jobs)
        if for_jobs:  # a job's command line carries the hash (hashing.job_hash_problem)
            check_preset_hash(p, origin.label, for_jobs=True)
    if for_jobs:
        check_pickles(loaded)
    sets = [p for p, _ in loaded]
    warn_duplicates(sets)
    return sets


def _static_doc(path: Path) -> str:
    try:
        return ast.get_docstring(ast.parse(path.read_text())) or ""
    except (SyntaxError, OSError, ValueError):
        return ""
