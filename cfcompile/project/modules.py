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

The folders are curifactory's too: ``curifactory_config.json`` in the project root may move
them (``"experiments_module_name": "src.exps"`` is ``src/exps/``), and modules are then named
``src.exps.NAME``, as curifactory imports them. Functions here take the *kind* (``experiments``
or ``params``) and look up the configured package with ``package(root, kind)``.

Standard library only (and cfcompile.utils, which is too): the job runtime imports this module.
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

from cfcompile.utils import read_configuration

KINDS = ("experiments", "params")
"""The kinds of modules named on the command line; their folders come from the configuration."""

_CONFIG_KEYS = {"experiments": "experiments_module_name", "params": "params_module_name"}
_configs: dict[str, tuple[int | None, dict[str, str]]] = {}


def configuration(root: str | os.PathLike) -> dict[str, str]:
    """The project's configuration, read again only when its file changes (one stat a call)."""
    key = os.path.abspath(root)
    try:
        stamp: int | None = os.stat(os.path.join(key, "curifactory_config.json")).st_mtime_ns
    except OSError:
        stamp = None
    cached = _configs.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, read_configuration(key))
        _configs[key] = cached
    return cached[1]


def package(root: str | os.PathLike, kind: str) -> str:
    """The module name of a kind's folder: ``experiments`` unless the configuration says else."""
    if kind not in _CONFIG_KEYS:
        return kind
    return configuration(root)[_CONFIG_KEYS[kind]]


def folder(root: str | os.PathLike, kind: str) -> Path:
    """The folder holding a kind's modules (``src.exps`` is ``ROOT/src/exps``)."""
    return Path(root).joinpath(*package(root, kind).split("."))


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
    base = folder(root, kind)
    parts = name.split(".")
    for split in range(len(parts) - 1, -1, -1):
        path = base.joinpath(*parts[:split], ".".join(parts[split:]) + ".py")
        if path.is_file():
            return path
    return None


def _standard_path(root: str | os.PathLike, kind: str, name: str) -> Path:
    """Where ``import_module(f"{kind}.{name}")`` itself looks for the module."""
    parts = name.split(".")
    return folder(root, kind).joinpath(*parts[:-1], parts[-1] + ".py")


def list_modules(root: str | os.PathLike, kind: str) -> dict[str, Path]:
    """Every module of a folder and its subfolders, by the name that finds it again.

    Files and folders starting with ``_`` or ``.`` are skipped (``__init__.py``, caches,
    private helpers), as are folders with a dot in their name, which no module name can reach.
    """
    base = folder(root, kind)
    found: dict[str, Path] = {}
    if not base.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", ".")) and "." not in d]
        rel = Path(dirpath).relative_to(base).parts
        for filename in filenames:
            if not filename.endswith(".py") or filename.startswith(("_", ".")):
                continue
            path = Path(dirpath) / filename
            name = ".".join([*rel, filename[:-3]])
            if module_file(root, kind, name) == path:  # a name another file shadows is left out
                found[name] = path
    return dict(sorted(found.items()))


def import_project_module(root: str | os.PathLike, kind: str, name: str) -> ModuleType:
    """Import a ``kind`` module ``name`` from the project at ``root`` (on ``sys.path``).

    The module gets curifactory's name ``{package}.{name}`` in every case (``experiments.NAME``
    by default), so stage import paths and pickles refer to it the same way in the compiling
    process, in every job and under curifactory itself.
    """
    path = module_file(root, kind, name)
    if path is None:
        raise ModuleNotFoundError(f"no file for module {name} in {folder(root, kind)}")
    module_name = f"{package(root, kind)}.{name}"
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
    """``importlib.import_module``, plus project modules it cannot find by that name.

    Those are found through the project roots on ``sys.path`` (the job runtime puts its
    project there): a file name holding a dot (``experiments.rep.v2``, imported under the same
    name it had when the workflow was compiled), and the kind names ``experiments.NAME`` and
    ``params.NAME`` of a project whose configuration moves those folders (workflow.json names
    parameter modules by kind, so it reads the same whatever the folders are called).
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        for entry in sys.path:
            root = entry or os.getcwd()
            if not os.path.isdir(root):
                continue
            for kind in KINDS:
                for pkg in dict.fromkeys((package(root, kind), kind)):
                    name = module_name.removeprefix(pkg + ".")
                    if name != module_name and module_file(root, kind, name) is not None:
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
