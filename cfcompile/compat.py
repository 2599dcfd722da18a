"""Make ``import curifactory`` resolve to cfcompile inside cfcompile's own processes.

Experiment files written for curifactory (``import curifactory as cf``,
``from curifactory.caching import PickleCacher``) then compile and run unmodified: the stage
decorators, records and cachers they use are cfcompile's, which is what the tracer and the job
runtime need. The alias is installed by the CLI and the job runtime before any project module is
imported, and it wins even when curifactory itself is installed (that installation is simply
not used by cfcompile's processes; a plain ``python`` or ``experiment`` keeps using it).
"""

from __future__ import annotations

import sys

ALIASES = {
    "curifactory": "cfcompile",
    "curifactory.caching": "cfcompile.mirror.caching",
    "curifactory.reporting": "cfcompile.mirror.reporting",
    "curifactory.params": "cfcompile.params",
    "curifactory.record": "cfcompile.record",
    "curifactory.staging": "cfcompile.mirror.staging",
    "curifactory.hashing": "cfcompile.hashing",
    "curifactory.manager": "cfcompile.record",
    "curifactory.utils": "cfcompile.utils",
    "curifactory.experiment": "cfcompile.experiment",
    "curifactory.procedure": "cfcompile.procedure",
}


class _Unmapped:
    """Refuses ``curifactory.X`` for any X that ``ALIASES`` does not map. Without it Python
    would find ``X`` in cfcompile's own package (``curifactory`` is cfcompile in
    ``sys.modules``): ``curifactory.cli`` would load cfcompile's command line under
    curifactory's name, ``curifactory.project`` its project discovery."""

    @staticmethod
    def find_spec(fullname: str, path: object = None, target: object = None) -> None:
        if fullname.startswith("curifactory.") and fullname not in ALIASES:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: cfcompile has no counterpart of curifactory's "
                f"{fullname} (docs/curifactory.md lists what it has)",
                name=fullname,
            )
        return None


def install() -> None:
    import importlib

    if not any(f is _Unmapped for f in sys.meta_path):
        sys.meta_path.insert(0, _Unmapped)
    for alias, target in ALIASES.items():
        sys.modules[alias] = importlib.import_module(target)
    # ``import curifactory.staging`` then ``curifactory.staging.stage``: the import system finds
    # the alias in sys.modules and never sets it on the parent, so set it here
    for alias, target in ALIASES.items():
        parent, _, leaf = alias.rpartition(".")
        if parent and not hasattr(sys.modules[parent], leaf):
            setattr(sys.modules[parent], leaf, sys.modules[target])


def installed() -> bool:
    return sys.modules.get("curifactory") is sys.modules.get("cfcompile")
