"""What a piece of the researcher's code is, as text on disk: the same in every process.

Reuse copies one set's outputs to another only when everything a fresh computation depends on
is the same, code included. A function's behaviour depends on its own source and on every
project module it can reach: helpers imported at the top, a package's ``__init__`` that
re-exports ``helpers.core.compute``, a module imported inside a function body. So the
identity of a function or class is a digest of the files of its module and of every project
module reachable from it by ``import`` statements, read statically from the files (``ast``):
no import runs, and two processes that see the same files compute the same identity.
Installed packages and the standard library are fixed by the environment and are left out.

Also here, because every layer asks it: which of the three places a file belongs to
(the standard library, installed packages, the researcher's own code).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import os
import site
import sys
import sysconfig
from typing import Any

STDLIB, INSTALLED, RESEARCHER = "stdlib", "installed", "researcher"


@functools.cache
def _installed_roots() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(standard library folders, site-packages folders), real paths."""
    paths = sysconfig.get_paths()
    stdlib = {paths["stdlib"], paths["platstdlib"]}
    installed = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        installed.add(site.getusersitepackages())

    def real(folders: set[str]) -> tuple[str, ...]:
        return tuple(sorted({os.path.realpath(f) + os.sep for f in folders if f}))

    return real(stdlib), real(installed)


def where(path: str) -> str:
    """Which of the three a module file belongs to (site-packages may sit inside the standard
    library's folder, so it is asked first)."""
    return _where_folder(os.path.dirname(path))


@functools.lru_cache(maxsize=16384)
def _where_folder(folder: str) -> str:
    """Per folder, cached: a process's first purge asks for 1,500 modules in 150 folders."""
    stdlib, installed = _installed_roots()
    real = os.path.realpath(folder) + os.sep
    if real.startswith(installed):
        return INSTALLED
    if real.startswith(stdlib):
        return STDLIB
    return RESEARCHER


_OURS = os.path.dirname(os.path.realpath(__file__)) + os.sep


def is_project_file(path: str | None) -> bool:
    """A Python source file of the researcher's (not cfcompile's, not installed, not the
    standard library's)."""
    if not path or not path.endswith(".py"):
        return False
    real = os.path.realpath(path)
    return not real.startswith(_OURS) and where(real) == RESEARCHER


def source_digest(func: Any) -> str | None:
    """md5 of a function's own source, or None when Python cannot show it (a REPL, exec).
    This is the ``stage_code`` of metadata: what ``--rerun-changed-code`` compares. A job
    asks once per node: the answer is kept while the function's file is unchanged on disk
    (``inspect.getsource`` reads the file as it is now, so the stamp is what it depends on)."""
    code = getattr(func, "__code__", None)
    stamp = _stamp(code.co_filename) if code is not None else None
    cached = _SOURCES.get(func) if stamp is not None else None
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return None
    digest = hashlib.md5(source.encode()).hexdigest()
    if stamp is not None:
        _SOURCES[func] = (stamp, digest)
    return digest


_SOURCES: dict[Any, tuple[tuple[int, int], str]] = {}
"""function -> (its file's stamp, the digest of its source)."""


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


# -- the static import closure -------------------------------------------------------------
_FILES: dict[str, tuple[tuple[int, int], str, tuple]] = {}
"""path -> ((mtime_ns, size), md5 of the file, the imports it names)."""


def _read(path: str) -> tuple[str, tuple] | None:
    """The file's digest and its import statements ``(level, module, names)``, cached while
    the file is unchanged on disk."""
    stamp = _stamp(path)
    if stamp is None:
        return None
    cached = _FILES.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1], cached[2]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    imports: list[tuple[int, str, tuple[str, ...]]] = []
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Import):
            imports.extend((0, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(a.name for a in node.names if a.name != "*")
            imports.append((node.level, node.module or "", names))
    digest = hashlib.md5(data).hexdigest()
    _FILES[path] = (stamp, digest, tuple(imports))
    return digest, tuple(imports)


def _find(name: str) -> str | None:
    """The file a module name loads from: the loaded module's, else the first match on
    ``sys.path`` (a module imported only inside a function body is not loaded yet)."""
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None) if module is not None else None
    if path:
        return path
    rel = name.replace(".", os.sep)
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        base = os.path.join(entry or os.getcwd(), rel)
        for candidate in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
    return None


def _module_name(path: str) -> str | None:
    """The name a project file is loaded under (from ``sys.modules``, else from the
    ``sys.path`` entry that holds it)."""
    real = os.path.realpath(path)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and os.path.realpath(file) == real:
            return name
    for entry in sys.path:
        if not isinstance(entry, str) or not entry:
            continue
        root = os.path.realpath(entry) + os.sep
        if real.startswith(root):
            rel = real[len(root) : -3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            return ".".join(rel)
    return None


def _targets(name: str, is_package: bool, imports: tuple) -> list[str]:
    """Module names an import list can load: each parent package, and ``from X import y``'s
    ``X.y`` (which may be a submodule)."""
    out = []
    for level, module, names in imports:
        if level:
            parts = name.split(".") if is_package else name.split(".")[:-1]
            parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
            base = ".".join([*parts, module] if module else parts)
        else:
            base = module
        if not base:
            continue
        pieces = base.split(".")
        out.extend(".".join(pieces[: i + 1]) for i in range(len(pieces)))
        out.extend(f"{base}.{n}" for n in names)
    return out


_CLOSURES: dict[tuple, tuple[tuple[tuple[str, tuple[int, int] | None], ...], list]] = {}
"""(path, name, sys.path) -> (each file of the closure with its stamp, the closure)."""


def module_closure(path: str, name: str | None = None) -> list[tuple[str, str]]:
    """``(module name, md5)`` of a project file and of every project file reachable from it
    by import statements, sorted. Files outside the project count as fixed. Kept while
    ``sys.path`` and every file of the closure are unchanged on disk (a job asks once per
    node; finding the files is the dear part, a stat per file is not)."""
    key = (path, name, tuple(p for p in sys.path if isinstance(p, str)))
    cached = _CLOSURES.get(key)
    if cached is not None and all(_stamp(f) == stamp for f, stamp in cached[0]):
        return list(cached[1])
    files: list[str] = []
    closure = _module_closure(path, name, files)
    # a folder's stamp changes when a file appears in it (a new module an import now finds)
    watched = sorted({*files, *(os.path.dirname(f) for f in files)})
    _CLOSURES[key] = (tuple((f, _stamp(f)) for f in watched), closure)
    return list(closure)


def _module_closure(path: str, name: str | None, files: list[str]) -> list[tuple[str, str]]:
    if not is_project_file(path):
        return []
    seen: dict[str, tuple[str, str]] = {}
    todo = [(os.path.realpath(path), name or _module_name(path) or path)]
    while todo:
        file, mod = todo.pop()
        if file in seen:
            continue
        files.append(file)
        read = _read(file)
        if read is None:
            seen[file] = (mod, "?")
            continue
        digest, imports = read
        seen[file] = (mod, digest)
        is_package = os.path.basename(file) == "__init__.py"
        for target in _targets(mod, is_package, imports):
            found = _find(target)
            if found and is_project_file(found):
                real = os.path.realpath(found)
                if real not in seen:
                    todo.append((real, target))
    return sorted(seen.values())


def closure_digest(path: str | None, name: str | None = None) -> str:
    """md5 of ``module_closure``: one string for a module and what it reaches."""
    if not path:
        return ""
    return hashlib.md5(repr(module_closure(path, name)).encode()).hexdigest()


def module_file(obj: Any) -> tuple[str | None, str | None]:
    """(file, module name) of the module that defines a function or class."""
    name = getattr(obj, "__module__", None)
    module = sys.modules.get(name) if isinstance(name, str) else None
    return getattr(module, "__file__", None), name


def code_identity(func: Any) -> str:
    """A function's identity for reuse: its module and qualname, its code, and the files of
    its module and of every project module reachable from there."""
    path, name = module_file(func)
    code = getattr(func, "__code__", None)
    body = [name, getattr(func, "__qualname__", None), code_digest(code) if code else None]
    body.append(closure_digest(path, name))
    return hashlib.md5(repr(body).encode()).hexdigest()


def stage_identity(func: Any, import_path: str, outputs: list, cachers: list | None) -> str:
    """A stage's identity: its import path, outputs, cachers (each class's identity) and
    source, and its function's (``code_identity``): an edited helper or module constant
    makes another stage. Only outputs written by this identity count as the stage's."""
    kinds = [class_identity(c if isinstance(c, type) else type(c)) for c in cachers or []]
    body = [import_path, [str(o) for o in outputs], kinds, source_digest(func)]
    body.append(code_identity(func))
    return hashlib.md5(repr(body).encode()).hexdigest()


def class_identity(cls: type) -> str:
    """A class by module and qualname, and, for a project class, the files of its module and
    of what it reaches (its methods' helpers and constants live there)."""
    path, name = module_file(cls)
    body = [name, cls.__qualname__]
    if is_project_file(path):
        body.append(closure_digest(path, name))
    return hashlib.md5(repr(body).encode()).hexdigest()


def code_digest(code: Any) -> str:
    """md5 of a code object's instructions, constants (nested code objects included), names
    and signature: two lambdas on one line differ; nothing here differs between processes."""
    h = hashlib.md5()
    _feed_code(code, h)
    return h.hexdigest()


def _feed_code(code: Any, h: Any) -> None:
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)).encode())
    h.update(repr((code.co_argcount, code.co_kwonlyargcount, code.co_flags)).encode())
    h.update(code.co_qualname.encode() if hasattr(code, "co_qualname") else code.co_name.encode())
    for const in code.co_consts:
        if inspect.iscode(const):
            h.update(b"<code>")
            _feed_code(const, h)
        else:
            h.update(_const_text(const).encode())


def _const_text(const: Any) -> str:
    """A constant as text that is the same in every process (a frozenset's order follows
    string hashing, which changes from process to process)."""
    if isinstance(const, frozenset):
        return "frozenset:" + repr(sorted(_const_text(c) for c in const))
    if isinstance(const, tuple):
        return "tuple:(" + ",".join(_const_text(c) for c in const) + ")"
    return f"{type(const).__name__}:{const!r}"
