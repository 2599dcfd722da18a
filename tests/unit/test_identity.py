"""The code identity of a function (``cfcompile.identity``): every project file it can reach."""

from __future__ import annotations

import importlib

from cfcompile import identity


def test_the_closure_follows_imports_and_package_reexports(tmp_path, monkeypatch):
    pkg = tmp_path / "helpers_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from helpers_pkg.core import compute\n")
    (pkg / "core.py").write_text("FACTOR = 2\n\ndef compute(x):\n    return x * FACTOR\n")
    (tmp_path / "stage_mod.py").write_text(
        "import helpers_pkg\n\n\ndef run(x):\n    import json  # noqa\n\n"
        "    return helpers_pkg.compute(x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("stage_mod")
    names = [n for n, _ in identity.module_closure(mod.__file__, "stage_mod")]
    assert names == ["helpers_pkg", "helpers_pkg.core", "stage_mod"]  # json: standard library
    before = identity.code_identity(mod.run)
    core = pkg / "core.py"
    core.write_text(core.read_text().replace("FACTOR = 2", "FACTOR = 3"))
    assert identity.code_identity(mod.run) != before
