"""Project module files and the names they are imported under, as curifactory imports them.

curifactory runs ``experiment NAME`` as ``importlib.import_module(f"experiments.{NAME}")``: a
dot is a subfolder (``subexp.example`` is experiments/subexp/example.py), and the standard
import system accepts file names that are not identifiers (``reload-reportables.py``).
cfcompile uses the same module names, so a pickle written by either tool names the same module
and stays loadable by the other. Two cases need more than ``import_module``:

- a file whose own name holds a dot (``experiments/rep.v2.py``, for ``cfcompile rep.v2``) is
  loaded from its file under the module name ``experiments.rep.v2``; in a later process
  ``import_name`` finds it again through the project root on ``sys.path``;
- ``pkgutil.resolve_name`` refuses a ``-`` in a module name, so a stage's import path
  (``experiments.reload-reportables:first``) is resolved with ``resolve`` instead.

Standard library only: the job runtime may import this module.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

KINDS = ("experiments", "params")
"""The folders of a project that hold modules named on the command line."""

_UNSAFE = ("/", "\\", "\0")


def valid_name(name: str) -> bool:
    """A module name as given on the command line: dot-separated, no empty part, no slash."""
    return bool(name) and not any(c in name for c in _UNSAFE) and all(name.split("."))


def module_file(root: str | os.PathLike, kind: str, name: str) -> Path | None:
    """The file a module name means, or None.

    Dots are subfolders first, as in curifactory (``a.b`` is ``a/b.py``); failing that, the
    trailing parts may be one file name with dots in it (``a.b.py``).
    """
    if not valid_name(name):
        return None
    folder = Path(root) / kind
    parts = name.split(".")
    for split in range(len(parts) - 1, -1, -1):
        path = folder.joinpath(*parts[:split], ".".join(parts[split:]) + ".py")
        if path.is_file():
            return path
    return None


def _standard_path(root: str | os.PathLike, kind: str, name: str) -> Path:
    """Where ``import_module(f"{kind}.{name}")`` itself looks for the module."""
    parts = name.split(".")
    return Path(root, kind, *parts[:-1], parts[-1] + ".py")


def list_modules(root: str | os.PathLike, kind: str) -> dict[str, Path]:
    """Every module of a folder and its subfolders, by the name that finds it again.

    Files and folders starting with ``_`` or ``.`` are skipped (``__init__.py``, caches,
    private helpers), as are folders with a dot in their name, which no module name can reach.
    """
    folder = Path(root) / kind
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", ".")) and "." not in d]
        rel = Path(dirpath).relative_to(folder).parts
        for filename in filenames:
            if not filename.endswith(".py") or filename.startswith(("_", ".")):
                continue
            path = Path(dirpath) / filename
            name = ".".join([*rel, filename[:-3]])
            if module_file(root, kind, name) == path:  # a name another file shadows is left out
                found[name] = path
    return dict(sorted(found.items()))


def import_project_module(root: str | os.PathLike, kind: str, name: str) -> ModuleType:
    """Import ``{kind}.{name}`` from the project at ``root`` (which must be on ``sys.path``).

    The module gets curifactory's name ``{kind}.{name}`` in every case, so stage import paths
    and pickles refer to it the same way in the compiling process and in every job.
    """
    path = module_file(root, kind, name)
    if path is None:
        raise ModuleNotFoundError(f"no file for module {kind}.{name} in {Path(root) / kind}")
    module_name = f"{kind}.{name}"
    if path == _standard_path(root, kind, name):
        return importlib.import_module(module_name)
    module = sys.modules.get(module_name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def import_name(module_name: str) -> ModuleType:
    """``importlib.import_module``, plus project modules whose file name holds a dot.

    Those are found through the project roots on ``sys.path`` (the job runtime puts its
    project there), under the same name they had when the workflow was compiled.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        kind, _, name = module_name.partition(".")
        if kind in KINDS and name:
            for entry in sys.path:
                root = entry or os.getcwd()
                if module_file(root, kind, name) is not None:
                    return import_project_module(root, kind, name)
        raise


def resolve(import_path: str) -> Any:
    """The object at ``module:qualname``, for any module name ``import_name`` can import.

    ``pkgutil.resolve_name`` accepts only identifier module names, so it cannot find a stage
    of ``experiments/reload-reportables.py``, which curifactory runs without complaint.
    """
    if ":" not in import_path:
        return pkgutil.resolve_name(import_path)
    module_name, _, qualname = import_path.partition(":")
    obj: Any = import_name(module_name)
    for attr in qualname.split(".") if qualname else ():
        obj = getattr(obj, attr)
    return obj
