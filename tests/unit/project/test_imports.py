"""One ``sys.path`` rule for every route, and which loaded modules are the researcher's
(``project.imports``)."""

from __future__ import annotations

import sys

from helpers import write_project

from cfcompile.project import modules


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
