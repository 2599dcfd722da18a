"""project/: module names as curifactory imports them, and parameter sets as get_params()
returns them (checked, named, selected)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
from helpers import write_project

import cfcompile as cf
from cfcompile.errors import ParamsError
from cfcompile.project import modules, paramsets


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


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


def test_get_params_must_return_parameter_sets_naming_the_bad_item():
    assert paramsets.checked_params((P(name="a"),), "f.py") == [P(name="a")]
    with pytest.raises(ParamsError, match="f.py: get_params\\(\\) returned dict"):
        paramsets.checked_params({}, "f.py")
    with pytest.raises(ParamsError, match="item 1 is a int"):
        paramsets.checked_params([P(name="a"), 3], "f.py")


def test_indices_select_in_the_order_given():
    assert paramsets.parse_indices(["3", "0-1", "5:"], 7) == [3, 0, 1, 5, 6]
    with pytest.raises(ParamsError, match="out of range"):
        paramsets.parse_indices(["9"], 3)
    with pytest.raises(ParamsError, match="is not N"):
        paramsets.parse_indices(["x"], 3)


def test_two_sets_may_not_share_a_name():
    a, b = P(name="same", x=1), P(name="same", x=2)
    origins = [paramsets.Origin("p", "p.py", 0), paramsets.Origin("p", "p.py", 1)]
    with pytest.raises(ParamsError, match="two different parameter sets are named 'same'"):
        paramsets.refuse_duplicate_names([a, b], origins)
    with pytest.raises(ParamsError, match="listed twice with the same values"):
        paramsets.refuse_duplicate_names([a, P(name="same", x=1)], origins)


def test_an_unpicklable_set_is_refused_naming_the_field():
    bad = P(name="bad")
    bad.fn = lambda: 1  # noqa: B023 - what a researcher might do
    with pytest.raises(ParamsError, match="field 'fn'"):
        paramsets.check_pickles([(bad, paramsets.Origin("p", "p.py", 0))])


def test_the_project_root_comes_after_the_standard_library(tmp_path, monkeypatch):
    """One sys.path rule on every route: a project random.py never shadows the standard
    library's, while the project's own packages are found in the project even where the
    standard library has one of that name (curifactory's ``test.examples`` layout)."""
    from cfcompile.project import imports

    root = write_project(
        tmp_path / "r",
        {
            "random.py": "SHADOW = 1\n",
            "curifactory_config.json": '{"experiments_module_name": "test.exps"}',
            "test/__init__.py": "",
            "test/exps/__init__.py": "",
            "test/exps/e.py": "X = 1\n",
        },
    )
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.chdir(root)
    for name in ("test", "test.exps", "test.exps.e", "random"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    imports.use_project_root(str(root))
    assert sys.path[-1] == str(root) and "" not in sys.path[:1]
    import random

    assert not hasattr(random, "SHADOW")
    assert modules.import_project_module(root, "experiments", "e").X == 1
    assert sys.modules["test"].__file__ == str(root / "test" / "__init__.py")


def test_a_node_forgets_the_researchers_modules_and_keeps_installed_ones(tmp_path, monkeypatch):
    from cfcompile.project import imports

    (tmp_path / "mine.py").write_text("import json\nCOUNT = [0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import json

    import mine

    assert imports.is_researchers("mine", mine)
    assert not imports.is_researchers("json", json)  # the standard library
    assert not imports.is_researchers("cfcompile.values", sys.modules["cfcompile.values"])
    assert not imports.is_researchers("pytest", sys.modules["pytest"])  # site-packages
    saved = dict(sys.modules)  # this process's own test modules are "the researcher's" too
    try:
        gone = imports.forget_researcher_modules()
        assert "mine" in gone and "mine" not in sys.modules and "json" in sys.modules
    finally:
        sys.modules.update({k: v for k, v in saved.items() if k != "mine"})
    warm = imports.warm_files()
    assert sys.modules["pytest"].__file__ in warm and json.__file__ not in warm
    assert any(path.endswith("cfcompile/values.py") for path in warm)
