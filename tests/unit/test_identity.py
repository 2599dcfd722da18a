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


def test_a_kept_closure_sees_every_edit_a_fresh_one_would(tmp_path, monkeypatch):
    # the closure and a function's source digest are kept between nodes of one job; each
    # answer must still equal what a process that never asked before would compute
    (tmp_path / "stage_two.py").write_text(
        "def run(x):\n    import late_helper\n\n    return late_helper.K * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("stage_two")
    first = identity.code_identity(mod.run)
    source = identity.source_digest(mod.run)
    assert identity.code_identity(mod.run) == first  # unchanged files: the kept answer
    # a module that did not exist appears where the function's import finds it
    (tmp_path / "late_helper.py").write_text("K = 1\n")
    with_helper = identity.code_identity(mod.run)
    assert with_helper != first
    identity._CLOSURES.clear()
    assert identity.code_identity(mod.run) == with_helper  # what a fresh process computes
    # the helper is edited (same size, so only its modification time tells)
    helper = tmp_path / "late_helper.py"
    helper.write_text("K = 2\n")
    stat = helper.stat()
    import os

    os.utime(helper, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    edited = identity.code_identity(mod.run)
    assert edited != with_helper
    identity._CLOSURES.clear()
    assert identity.code_identity(mod.run) == edited
    # the function's own file edited: its source digest follows
    stage = tmp_path / "stage_two.py"
    stage.write_text(stage.read_text().replace("K * x", "K * x + 0"))
    assert identity.source_digest(mod.run) != source
