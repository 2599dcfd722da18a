"""The module names project files are imported under, as curifactory imports them
(``project.modules``)."""

from __future__ import annotations

import sys

import pytest
from helpers import write_project

from cfcompile.project import modules


@pytest.fixture
def root(tmp_path, monkeypatch):
    root = write_project(
        tmp_path / "proj",
        {
            "experiments/plain.py": "X = 1\ndef run(p, m): pass\n",
            "experiments/sub/deep.py": "X = 2\n",
            "experiments/rep.v2.py": "X = 3\ndef stage_fn(): return 'v2'\n",
            "experiments/reload-reportables.py": "def first(): return 'hyphen'\n",
            "experiments/_private.py": "X = 4\n",
        },
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.split(".")[0] == "experiments"]:
        del sys.modules[name]


def test_module_names_are_curifactorys(root):
    listed = modules.list_modules(root, "experiments")
    assert list(listed) == ["plain", "reload-reportables", "rep.v2", "sub.deep"]  # no _private
    assert modules.module_file(root, "experiments", "sub.deep") == root / "experiments/sub/deep.py"
    assert modules.module_file(root, "experiments", "rep.v2") == root / "experiments/rep.v2.py"
    assert modules.module_file(root, "experiments", "../plain") is None
    assert not modules.valid_name("a/b") and not modules.valid_name("a..b")


def test_modules_import_under_curifactorys_names_and_resolve_by_import_path(root):
    assert modules.import_project_module(root, "experiments", "sub.deep").X == 2
    assert modules.import_name("experiments.rep.v2").X == 3  # a dot in the file name
    first = modules.resolve("experiments.reload-reportables:first")  # a hyphen, as curifactory
    assert first() == "hyphen"


def test_a_configured_folder_moves_the_package(tmp_path):
    root = write_project(
        tmp_path / "conf",
        {
            "curifactory_config.json": '{"experiments_module_name": "src.exps"}',
            "src/exps/a.py": "",
        },
    )
    assert modules.package(root, "experiments") == "src.exps"
    assert modules.folder(root, "experiments") == root / "src" / "exps"
    assert list(modules.list_modules(root, "experiments")) == ["a"]
