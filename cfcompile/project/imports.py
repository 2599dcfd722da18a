"""What a process holds of the researcher's code: one ``sys.path`` rule for every route, which
loaded modules are the researcher's own, and the files the others were loaded from.

A node must give what a fresh process gives, wherever it runs: a warm worker's forked child,
one node of a job unit, a Slurm task, ``--eager``. Two rules make that so.

- ``use_project_root``: ``sys.path`` is the interpreter's own (the standard library,
  site-packages, ``PYTHONPATH``) followed by the project root, as curifactory appends its
  working directory; never the working directory or ``''`` that ``python -m`` / ``-c`` put
  first. So a project module named like a standard-library one (``random.py``) never shadows
  it, on any route.
- ``forget_researcher_modules``: before each node, every loaded module that is the
  researcher's own (the project's files, and anything outside the standard library and
  site-packages: a helper on ``PYTHONPATH``, an editable install) is dropped from
  ``sys.modules``, so the node imports it afresh, under its own environment: module-level
  generators, environment reads and data files read at import are what a fresh process would
  see. The standard library, installed packages (scikit-learn, torch, pandas) and cfcompile
  itself stay loaded: they cannot differ between processes, and they are what makes a warm
  worker fast. ``warm_files`` lists the files those came from, so a worker can decline once
  one changed (``pip install -U``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any

from cfcompile.identity import INSTALLED, RESEARCHER, where
from cfcompile.project import modules

_EXTENSIONS = (".so", ".pyd", ".dylib")


def use_project_root(root: str) -> None:
    """Take off what ``-m``/``-c`` prepended and put ``root`` last on ``sys.path``, unless
    ``PYTHONPATH`` names it: what a researcher puts there deliberately keeps Python's own
    place, before the standard library. The project's own packages (``experiments``,
    ``params``, or what its configuration names) are found in ``root`` even where the
    standard library has a package of that name."""
    drop_program_folder()
    chosen = {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    if os.path.realpath(root) not in chosen:
        while root in sys.path:
            sys.path.remove(root)
        sys.path.append(root)
    tops = {modules.package(root, kind).split(".")[0] for kind in modules.KINDS}
    for finder in [f for f in sys.meta_path if isinstance(f, ProjectPackages)]:
        sys.meta_path.remove(finder)
    sys.meta_path.insert(0, ProjectPackages(root, tops))


def drop_program_folder() -> None:
    """The working directory that ``python -m`` / ``-c`` put first on ``sys.path`` is no
    rule of ours: off it goes (once; ``release.as_program`` does it at a program's first
    import). An entry that ``PYTHONPATH`` put there stays."""
    if sys.flags.safe_path or not sys.path or sys.path[0] not in ("", os.getcwd()):
        return
    if getattr(sys, "_cfcompile_dropped", False):
        return
    del sys.path[0]
    sys._cfcompile_dropped = True  # type: ignore[attr-defined]


class ProjectPackages(importlib.abc.MetaPathFinder):
    """Finds the project's top-level packages in the project root before anywhere else.

    curifactory's own test project configures ``test.examples.experiments``, and Python ships
    a ``test`` package in its standard library, which an appended project root would lose to
    (curifactory's ``experiment`` command fails there on such an interpreter). Only the
    packages the project's experiments and parameters live in are claimed; any other project
    file named like a standard-library module (``random.py``) stays shadowed by it.
    """

    def __init__(self, root: str, tops: set[str]):
        self.root, self.tops = root, tops

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.tops:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.root])


def _files(module: ModuleType) -> list[str]:
    """The file a module came from, or its package folders (a namespace package)."""
    path = getattr(module, "__file__", None)
    if path:
        return [path]
    spec_path = getattr(module, "__path__", None)
    return [p for p in (spec_path or []) if isinstance(p, str)]


def _cfcompiles(name: str) -> bool:
    return name.split(".")[0] in ("cfcompile", "curifactory")  # curifactory: the alias


def is_researchers(name: str, module: ModuleType | None) -> bool:
    """A module of the researcher's own: loaded from a file outside the standard library and
    site-packages, and not cfcompile. Compiled extensions are kept (they load once a process)."""
    if module is None or name == "__main__" or _cfcompiles(name):
        return False
    files = _files(module)
    if not files or any(f.endswith(_EXTENSIONS) for f in files):
        return False
    return all(where(f) == RESEARCHER for f in files)


_KEPT: dict[str, int] = {}
"""Loaded modules already found not to be the researcher's (name -> id of the module object):
a node's purge then classifies only what was imported since the last one (a few µs, where
classifying 1,500 modules again would take milliseconds)."""


def forget_researcher_modules() -> list[str]:
    """Drop the researcher's modules from ``sys.modules`` (the next import runs them afresh);
    returns their names."""
    gone = []
    for name, module in list(sys.modules.items()):
        if _KEPT.get(name) == id(module):
            continue
        if is_researchers(name, module):
            gone.append(name)
        else:
            _KEPT[name] = id(module)
    for name in gone:
        sys.modules.pop(name, None)
    if gone:
        importlib.invalidate_caches()
    return gone


def warm_files() -> dict[str, float]:
    """mtime of every file a loaded module (not the researcher's, not the standard library's)
    came from: site-packages and cfcompile. A worker that has them loaded declines to serve
    once one changed."""
    out: dict[str, float] = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or not (_cfcompiles(name) or where(path) == INSTALLED):
            continue  # the standard library changes only with the interpreter, which keys it
        try:
            out[path] = os.stat(path).st_mtime
        except OSError:
            continue
    return out
