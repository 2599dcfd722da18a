"""``import curifactory`` inside cfcompile's processes (``compat``): the names that map, and
the ones that must not reach cfcompile's own modules by accident.

The first test runs in a fresh interpreter: only there can it show that the alias imports none
of cfcompile's command line. The others install the alias in this process (tests/conftest.py
puts the real curifactory back afterwards)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import cfcompile
from cfcompile import compat

CODE = """
import sys
from cfcompile import compat
compat.install()
import curifactory, curifactory.caching, curifactory.staging
assert curifactory.caching is sys.modules["cfcompile.caching"]
assert curifactory.staging.stage is sys.modules["cfcompile.stages"].stage
for name in ("curifactory.cli", "curifactory.project", "curifactory.driver"):
    try:
        __import__(name)
    except ModuleNotFoundError as exc:
        assert "no counterpart" in str(exc), exc
    else:
        raise AssertionError(name + " reached cfcompile's own module")
assert "cfcompile.cli" not in sys.modules
print("ok")
"""


def test_curifactory_names_map_only_where_aliases_say():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_install_maps_each_alias_to_its_module():
    compat.install()
    assert compat.installed() and sys.modules["curifactory"] is cfcompile
    for alias, target in compat.ALIASES.items():
        assert sys.modules[alias] is importlib.import_module(target), alias
    import curifactory.caching

    assert curifactory.caching is sys.modules["cfcompile.caching"]
    assert curifactory.caching.PickleCacher is cfcompile.caching.PickleCacher
    compat.install()  # twice: still one refusing finder
    assert sum(f is compat._Unmapped for f in sys.meta_path) == 1  # noqa: SLF001


def test_a_name_without_a_counterpart_is_refused_naming_the_documentation():
    compat.install()
    with pytest.raises(ModuleNotFoundError, match="no counterpart of curifactory's "):
        importlib.import_module("curifactory.dagman")
    assert "curifactory.dagman" not in sys.modules
