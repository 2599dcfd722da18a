"""The package's shape, enforced: layers and cycles (import-linter), sizes, names, imports.

Each rule here was a finding of a read of the whole package: a cycle hidden behind a
function-level import, a view importing another module's private helpers, a module of 400+
lines holding two concerns, a module no test ever imports. The contracts live in
pyproject.toml ([tool.importlinter]); these tests run them and show they can fail.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import REPO

PACKAGE = REPO / "cfcompile"
UNIT = REPO / "tests" / "unit"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
FUNCTION_LEVEL_IMPORTS = {  # module -> the cfcompile modules it may import inside a function
    "cfcompile.cli.main": {  # after parsing: --help stays fast
        "cfcompile.cli.compile_modes",
        "cfcompile.cli.run_modes",
        "cfcompile.cli.view_modes",
    },
    # every job installs the alias: the runner loads on first use only
    "cfcompile.experiment": {"cfcompile.mirror", "cfcompile.mirror.experiment_runner"},
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def lint(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_import_contracts_hold():
    proc = lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 kept, 0 broken" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("planted", "broken"),
    [
        # an upward import: the shared rules reaching into the command line
        (("core/ir.py", "from cfcompile.driver import build  # planted\n"), "Layers"),
        # a cycle inside one package, hidden in a function as the old ones were
        (
            ("core/transaction.py", "def planted():\n    from cfcompile.core import workdir\n"),
            "No cycle",
        ),
        # the job runtime reaching a compile-time library through a view
        (("runtime/job_runner.py", "import cfcompile.views.networks  # planted\n"), "job runtime"),
    ],
    ids=["upward-import", "cycle", "job-budget"],
)
def test_the_contracts_fail_on_a_planted_import(tmp_path, planted, broken):
    """A copy of the package with one bad import: lint-imports must name the broken contract."""
    shutil.copytree(PACKAGE, tmp_path / "cfcompile", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    file, line = planted
    with open(tmp_path / "cfcompile" / file, "a") as f:
        f.write("\n" + line)
    import os

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the copy, not the installed package
    proc = lint(tmp_path, env)
    assert proc.returncode != 0, proc.stdout
    broken_lines = [ln for ln in proc.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(broken in ln for ln in broken_lines), proc.stdout


def test_every_package_is_listed_for_the_wheel():
    """pyproject lists the packages (two live outside cfcompile/, so find cannot map them)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {name for name, path in modules().items() if path.name == "__init__.py"}
    mapped = set(config["package-dir"])
    assert listed == found | mapped, sorted(listed ^ (found | mapped))
    for package, folder in config["package-dir"].items():
        assert (REPO / folder / "__init__.py").is_file(), package


def test_modules_and_functions_stay_small():
    """No module over 400 lines; a function over 60 says why in a '# long:' comment above it."""
    problems = []
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE_LINES:
            problems.append(f"{name}: {len(lines)} lines")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            comments = []
            while first > 0 and lines[first - 1].strip().startswith("#"):
                first -= 1
                comments.append(lines[first].strip())
            if length > MAX_FUNCTION_LINES and not any(c.startswith("# long:") for c in comments):
                problems.append(f"{name}.{node.name}: {length} lines and no '# long:' reason")
    assert not problems, "\n".join(problems)


def _imports(tree: ast.AST, inside_functions: bool) -> list[tuple[ast.AST, str, list[str]]]:
    """(node, module, names) of every ``from cfcompile... import`` / ``import cfcompile...``."""
    out = []
    scopes = [tree]
    if inside_functions:
        scopes = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
    for scope in scopes:
        nodes = ast.walk(scope) if inside_functions else ast.iter_child_nodes(scope)
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cfcompile"):
                out.append((node, node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("cfcompile"):
                        out.append((node, alias.name, []))
    return out


def test_no_private_name_is_imported_from_another_module():
    found = []
    for name, path in modules().items():
        for _node, module, names in _imports(ast.parse(path.read_text()), False):
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    found.append(f"{name} imports {module}.{imported}")
    assert not found, "\n".join(found)


def test_function_level_imports_of_cfcompile_are_the_allowed_few_with_a_reason():
    found = []
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        for node, module, names in _imports(ast.parse("\n".join(lines)), True):
            targets = {module, *(f"{module}.{n}" for n in names)}
            allowed = FUNCTION_LEVEL_IMPORTS.get(name, set())
            reason = "#" in lines[node.lineno - 1] or lines[node.lineno - 2].strip().startswith("#")
            if not (targets & allowed and reason):
                found.append(f"{name}:{node.lineno}: {module} {names}")
    assert not found, "\n".join(found)


RUNPY = ("run_module", "run_path")


def _run_in_process(tree: ast.AST, known: set[str]) -> set[str]:
    """Modules a test runs in its own process with ``runpy``: ``run_module("cfcompile.X")``
    (a package's ``__main__``), ``run_path(".../cfcompile/X.py")``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        if called not in RUNPY:
            continue
        for const in ast.walk(node):
            if not (isinstance(const, ast.Constant) and isinstance(const.value, str)):
                continue
            if const.value in known:
                names.update({const.value, f"{const.value}.__main__"})
            for path in re.findall(r"\bcfcompile/([\w/]+)\.py", const.value):
                names.add("cfcompile." + path.replace("/", "."))
    return names


def _tested_modules(folder: Path = UNIT) -> set[str]:
    """cfcompile modules a unit test brings into its own process: ``import X``,
    ``from X import``, ``from P import X`` (at the top or inside a function), or ``runpy``.

    A module that only a subprocess imports (a ``-c`` string, ``-m cfcompile.X``, the CLI)
    does not count: a unit test calls the module's functions, and the tests that drive the
    command line live in tests/cli/ and tests/e2e/.
    """
    names: set[str] = set()
    known = set(modules())
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for _node, module, imported in _imports(tree, False) + _imports(tree, True):
            names.add(module)
            names.update(f"{module}.{n}" for n in imported if f"{module}.{n}" in known)
        names |= _run_in_process(tree, known)
    return names & known


def _holds_code(path: Path) -> bool:
    """More than a docstring (an ``__init__.py`` that only names its package holds nothing)."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def test_every_module_is_exercised_by_a_test():
    """Every module that holds code is imported by a test under tests/unit (the rule that lays
    tests/unit out is in tests/unit/README.md)."""
    holding = {name for name, path in modules().items() if _holds_code(path)}
    untested = sorted(holding - _tested_modules())
    assert not untested, "no unit test imports or runs: " + ", ".join(untested)


def test_only_what_a_unit_test_brings_into_its_process_counts_as_exercised(tmp_path):
    """A name in a subprocess's code or command line is not an import; runpy is."""
    (tmp_path / "test_planted.py").write_text(
        "import subprocess, sys, runpy\n"
        "from cfcompile.core import transaction\n"
        "def test_x():\n"
        "    import cfcompile.values\n"
        "    subprocess.run([sys.executable, '-c', 'import cfcompile.hashing'])\n"
        "    subprocess.run([sys.executable, '-m', 'cfcompile.job'])\n"
        "    runpy.run_module('cfcompile.cli', run_name='__main__')\n"
        "    runpy.run_path(str(REPO / 'cfcompile/client.py'), run_name='__main__')\n"
    )
    assert _tested_modules(tmp_path) == {
        "cfcompile.core",
        "cfcompile.core.transaction",
        "cfcompile.values",
        "cfcompile.cli",
        "cfcompile.cli.__main__",
        "cfcompile.client",
    }
