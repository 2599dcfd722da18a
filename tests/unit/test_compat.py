"""``import curifactory`` inside cfcompile's processes (``compat``): the names that map, and
the ones that must not reach cfcompile's own modules by accident."""

from __future__ import annotations

import subprocess
import sys

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
