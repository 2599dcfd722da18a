"""Documentation that cannot go stale: the site builds strictly and every reference resolves.

Four checks, each shown failing on references planted into a copy (the tests named
``..._fail(s)_on_...``):

(a) ``mkdocs build --strict`` (mkdocs.yml, ``docs_dir: docs``): a link to a missing page or
    heading, a page in docs/ left out of the nav, or a broken API reference fails the build.
(b) Repository paths written in docs/*.md, README.md, CHANGELOG.md and the docstrings of every
    module of the package resolve to a file or folder of this repository. A strict build does
    not read backticked paths in prose, so this test does. The rule for what counts as a
    repository path:

    - a word whose first segment is a top-level entry of this repository (``TOP``:
      ``cfcompile/``, ``tests/``, ``benchmarks/``, ``docs/``, ``workflows/``, ``templates/``,
      ``cluster_profiles/``, ``plugins/``, ``scripts/``, ``.ci/``, or the files README.md,
      CHANGELOG.md, pyproject.toml, mkdocs.yml), written anywhere: in backticks, as a link, or
      in plain prose; it is resolved from the repository root;
    - a word in backticks whose first segment is a subpackage of cfcompile (``core/reads.py``,
      ``compiler/``): resolved inside ``cfcompile/``, as docs/compiling.md writes them;
    - a relative link target (``[x](docs/running.md)``, ``[x](running.md)``): resolved from the
      file that holds it (in docs/ the strict build checks them too, with their anchors);
    - a bare ``NAME.md`` (``DESIGN.md``) names a file of the repository by its name.

    A path is checked up to where it stops naming the repository: its first placeholder
    (upper case such as ``EXP``, ``DIGEST``, ``NAME``; ``...``; ``<...>``, ``{...}``) or the
    first folder a run writes (``data``, ``results``, ``reports``, ``logs``, ``.cfcompile``,
    ``.snakemake``: ``workflows/iris/data/cache`` checks ``workflows/iris``). Paths that never
    start with a repository entry are a researcher's project or a run's output and are not
    checked (``experiments/iris.py``, ``params/...``, ``data/cache/...``, ``results/EXP.jsonl``,
    ``reports/...``, ``.cfcompile/...``, ``/tmp/...``, ``PROJECT/cluster_profiles/NAME``).
    A glob (``tests/e2e/test_faults*.py``) must match a file. A suffix ``::name`` (a test) or
    ``:name`` (a function) must be defined in that file, and ``core/execute.call_stage`` (a
    module path, then a dot) must be an attribute of that module. "Exists" means tracked by git
    or not ignored by it (``git ls-files -co --exclude-standard``), so a file a run left behind
    never makes a stale reference pass.
    History is plain text on purpose: CHANGELOG.md names old files in prose without a
    repository prefix (``runtime/job.py``), which no rule above reads.
(c) Every dotted ``cfcompile.`` name written there resolves to a module or an attribute
    (modules are imported). Names ending in a file suffix (``cfcompile.yaml``) are file names,
    and a one-letter capital part is a placeholder (``python -m cfcompile.X``).
(d) The layer map in docs/compiling.md has one table row per module, ``| `path` | ... |``:
    every ``.py`` file of the package (cfcompile/ and the two packages it ships from the top
    of the repository, templates/ and cluster_profiles/), where a package's ``__init__.py`` is
    listed only when it holds something besides its docstring; and nothing else.

Also: the README keeps at most 150 lines above its first table (a newcomer's page).
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO

TOP = (
    "cfcompile",
    "tests",
    "benchmarks",
    "docs",
    "workflows",
    "templates",
    "cluster_profiles",
    "plugins",
    "scripts",
    ".ci",
)
TOP_FILES = ("README.md", "CHANGELOG.md", "pyproject.toml", "mkdocs.yml")
# the package's subpackages: `core/reads.py` in backticks means cfcompile/core/reads.py
SUBPACKAGES = tuple(
    sorted(p.name for p in (REPO / "cfcompile").iterdir() if (p / "__init__.py").is_file())
)
# folders a run writes (ignored by git): a path is checked up to the folder before them
OUTPUT_DIRS = {"data", "results", "reports", "logs", ".cfcompile", ".snakemake"}
FILE_SUFFIXES = {"yaml", "yml", "json", "jsonl", "md", "py", "toml", "txt", "log", "egg", "html"}
# the map's extra modules: packages cfcompile ships from the top of the repository
SHIPPED_PACKAGES = ("templates/__init__.py", "cluster_profiles/__init__.py")
LAYER_MAP = REPO / "docs" / "compiling.md"

TOP_PATH = re.compile(
    r"(?<![\w/.$~{@-])"
    r"((?:" + "|".join(re.escape(t) for t in TOP) + r")/(?:[^\s`'\"()\[\]<>,;|]*)"
    r"|(?:" + "|".join(re.escape(f) for f in TOP_FILES) + r")(?![\w/-]))"
)
BACKTICKED = re.compile(r"`([^`\s]+)`")
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
BARE_MD = re.compile(r"(?<![\w/.-])([A-Za-z][\w-]*\.md)\b")
DOTTED = re.compile(r"(?<![\w./-])cfcompile(?:\.[A-Za-z_]\w*)+")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$|\.\.\.|[<>{}]")


@dataclass(frozen=True)
class Text:
    """Documentation text and where it was read: a file, or a docstring in a module."""

    where: str  # for messages: "docs/running.md", "cfcompile/hashing.py (docstring)"
    folder: Path  # where its relative links start
    body: str


# -- what exists --------------------------------------------------------------------------
def repository_files(root: Path = REPO) -> set[str]:
    """Every file git tracks or does not ignore, relative to the root (a run's outputs, which
    .gitignore lists, never count)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        files = {f for f in out.split("\0") if f}
    except (OSError, subprocess.CalledProcessError):  # not a checkout: what is on disk
        files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return {f for f in files if (root / f).exists()}  # a deletion not yet staged is gone


class Repository:
    def __init__(self, root: Path = REPO, files: set[str] | None = None):
        self.root = root
        self.files = repository_files(root) if files is None else files
        self.folders = {
            str(Path(f).parents[i]) for f in self.files for i in range(len(Path(f).parts) - 1)
        }
        self.names = {Path(f).name for f in self.files}

    def exists(self, path: str) -> bool:
        path = path.rstrip("/")
        return path in ("", ".") or path in self.files or path in self.folders

    def matches(self, pattern: str) -> bool:
        return any(fnmatch.fnmatchcase(f, pattern) for f in self.files)


# -- what the documentation says ----------------------------------------------------------
def docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append(doc)
    return found


def package_modules(root: Path = REPO) -> list[Path]:
    modules = sorted((root / "cfcompile").rglob("*.py"))
    return [p for p in modules if "__pycache__" not in p.parts] + [
        root / p for p in SHIPPED_PACKAGES
    ]


def documentation(root: Path = REPO) -> list[Text]:
    """docs/*.md, README.md, CHANGELOG.md, and every docstring of the package's modules."""
    texts = [
        Text(str(p.relative_to(root)), p.parent, p.read_text())
        for p in sorted((root / "docs").glob("*.md"))
    ]
    for name in ("README.md", "CHANGELOG.md"):
        if (root / name).is_file():
            texts.append(Text(name, root, (root / name).read_text()))
    for module in package_modules(root):
        for doc in docstrings(module):
            where = f"{module.relative_to(root)} (docstring)"
            texts.append(Text(where, module.parent, doc))
    return texts


# -- (b) paths ------------------------------------------------------------------------------
def _checked_part(path: str) -> str:
    """The path up to its first placeholder or run-output folder."""
    kept = []
    for part in path.split("/"):
        if PLACEHOLDER.search(part) or part in OUTPUT_DIRS:
            break
        kept.append(part)
    return "/".join(kept)


def _defined_names(file: Path) -> set[str]:
    tree = ast.parse(file.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _resolve_attribute(module: str, dotted: str) -> bool:
    try:
        obj = importlib.import_module(module)
        for part in dotted.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return True


def path_problem(repo: Repository, path: str) -> str | None:
    """Why ``path`` (relative to the repository root) does not resolve; None when it does."""
    path = path.rstrip(".:")
    name = None
    if "::" in path:  # tests/e2e/test_x.py::test_name
        path, name = path.split("::", 1)
        name = name.split("::")[-1].split("[")[0]
    elif re.search(r"\.py:[A-Za-z_]", path):  # core/execute.py:eager_key
        path, name = path.split(":", 1)
    checked = _checked_part(path)
    if not checked:
        return None
    if "*" in checked or "?" in checked:
        return None if repo.matches(checked) else "no file matches"
    if not repo.exists(checked) and repo.exists(checked + ".py"):  # `core/outputs`: a module
        checked += ".py"
    if repo.exists(checked):
        if name and checked.endswith(".py"):
            if name not in _defined_names(repo.root / checked):
                return f"{name!r} is not defined in {checked}"
        return None
    # a module path and then a dot: cfcompile/core/execute.call_stage
    head, _, tail = checked.rpartition("/")
    module_file, dot, attribute = tail.partition(".")
    if dot and attribute and not attribute.startswith(".") and attribute.split(".")[0] != "py":
        candidate = f"{head}/{module_file}.py" if head else f"{module_file}.py"
        if repo.exists(candidate):
            if _resolve_attribute(candidate[:-3].replace("/", "."), attribute):
                return None
            return f"{attribute!r} is not an attribute of {candidate}"
    return "does not exist"


def path_problems(texts: list[Text], repo: Repository) -> list[str]:
    problems = []

    def check(text: Text, path: str, shown: str) -> None:
        why = path_problem(repo, path)
        if why and f"{text.where}: `{shown}`: {why}" not in problems:
            problems.append(f"{text.where}: `{shown}`: {why}")

    for text in texts:
        for match in TOP_PATH.finditer(text.body):
            word = match.group(1).rstrip(".:,")
            check(text, word, word)
        for match in BACKTICKED.finditer(text.body):
            word = match.group(1).rstrip(".:,")
            if "/" in word and word.split("/")[0] in SUBPACKAGES:
                check(text, f"cfcompile/{word}", word)
        for match in BARE_MD.finditer(text.body):
            if match.group(1) not in repo.names:
                problems.append(f"{text.where}: `{match.group(1)}`: no such file in the repository")
        for match in LINK.finditer(text.body):
            target = match.group(1).split("#")[0]
            if not target or re.match(r"^[a-z]+:", target) or target.startswith("/"):
                continue
            resolved = (text.folder / target).resolve()
            try:
                relative = str(resolved.relative_to(repo.root))
            except ValueError:
                problems.append(f"{text.where}: link ({target}): outside the repository")
                continue
            check(text, relative, target)
    return problems


# -- (c) dotted names -------------------------------------------------------------------------
def name_problem(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[-1] in FILE_SUFFIXES or any(re.fullmatch("[A-Z]", p) for p in parts):
        return None  # a file (cfcompile.yaml), or a placeholder (python -m cfcompile.X)
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        rest = ".".join(parts[i:])
        if not rest or _resolve_attribute(module, rest):
            return None
        return f"{module} has no attribute {rest!r}"
    return "no such module"


def name_problems(texts: list[Text]) -> list[str]:
    problems = []
    for text in texts:
        for dotted in sorted(set(DOTTED.findall(text.body))):
            why = name_problem(dotted)
            if why:
                problems.append(f"{text.where}: `{dotted}`: {why}")
    return problems


# -- (d) the layer map ----------------------------------------------------------------------
MAP_ROW = re.compile(r"^\|\s*`([^`]+\.py)`\s*\|", re.M)


def mapped_modules(root: Path = REPO) -> set[str]:
    """What the map must list: every module file, an ``__init__.py`` only when it holds more
    than its docstring."""
    wanted = set()
    for module in package_modules(root):
        body = ast.parse(module.read_text()).body
        if module.name == "__init__.py":
            body = [
                n
                for n in body
                if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
            ]
            if not body:
                continue
        wanted.add(str(module.relative_to(root)))
    return wanted


def map_problems(map_text: str, wanted: set[str]) -> list[str]:
    rows = MAP_ROW.findall(map_text)
    problems = [f"listed twice: {r}" for r in sorted({r for r in rows if rows.count(r) > 1})]
    problems += [f"missing from the layer map: {m}" for m in sorted(wanted - set(rows))]
    problems += [f"on the layer map but not a module: {m}" for m in sorted(set(rows) - wanted)]
    return problems


# -- the tests ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def repo() -> Repository:
    return Repository()


@pytest.fixture(scope="module")
def texts() -> list[Text]:
    return documentation()


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site``, from the config's folder (the
    changelog snippet's base path is the working directory). Not ``-q``: quiet drops warnings
    before ``--strict`` counts them, and the build passes whatever is broken."""
    command = ["mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def needs_mkdocs() -> None:
    if (
        importlib.util.find_spec("mkdocs") is None
        or importlib.util.find_spec("mkdocstrings") is None
    ):
        pytest.skip(
            'mkdocs is not installed: pip install -e ".[test]" installs it (mkdocstrings[python])'
        )


def test_the_site_builds_strictly(tmp_path):
    needs_mkdocs()
    proc = mkdocs_build(REPO / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    assert "cfcompile.driver.Selection" in (tmp_path / "site" / "api" / "index.html").read_text()


def site_copy(tmp_path: Path) -> Path:
    """mkdocs.yml, docs/ and CHANGELOG.md copied, so a test can plant a fault in the copy."""
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "docs", copy / "docs")
    shutil.copy(REPO / "CHANGELOG.md", copy / "CHANGELOG.md")
    config = (REPO / "mkdocs.yml").read_text()
    # the API pages read the package from the repository, wherever the copy is
    config = config.replace('paths: ["."]', f"paths: [{str(REPO)!r}]")
    (copy / "mkdocs.yml").write_text(config)
    return copy


def test_the_strict_build_fails_on_a_broken_link_an_anchor_or_a_page_left_out(tmp_path):
    needs_mkdocs()
    copy = site_copy(tmp_path)
    page = copy / "docs" / "index.md"
    planted = "See [the missing page](missing-page.md) and [a heading](running.md#no-such-heading)."
    page.write_text(page.read_text() + f"\n{planted}\n")
    (copy / "docs" / "orphan.md").write_text("# A page in docs/ but not in the nav\n")
    proc = mkdocs_build(copy / "mkdocs.yml", tmp_path / "site")
    said = proc.stdout + proc.stderr
    print(said)  # the evidence, shown with -s
    assert proc.returncode != 0, "planted faults built without error"
    assert "contains a link 'missing-page.md', but the target is not found" in said
    assert "does not contain an anchor '#no-such-heading'" in said
    assert 'are not included in the "nav" configuration' in said and "orphan.md" in said


def test_the_strict_build_fails_on_an_api_reference_that_does_not_resolve(tmp_path):
    needs_mkdocs()
    copy = site_copy(tmp_path)
    api = copy / "docs" / "api.md"
    api.write_text(api.read_text() + "\n::: cfcompile.no_such_module\n")
    proc = mkdocs_build(copy / "mkdocs.yml", tmp_path / "site")
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "cfcompile.no_such_module could not be found" in said


def test_every_repository_path_in_the_documentation_resolves(texts, repo):
    problems = path_problems(texts, repo)
    assert not problems, "stale paths:\n" + "\n".join(problems)


def test_every_dotted_cfcompile_name_resolves(texts):
    problems = name_problems(texts)
    assert not problems, "stale names:\n" + "\n".join(problems)


def test_the_reference_checks_fail_on_planted_references(texts, repo):
    planted = Text(
        "docs/planted.md",
        REPO / "docs",
        "\n".join(
            [
                "Moved: `tests/test_hash_oracle.py` and tests/unit/test_nothing.py in prose,",
                "`core/nothing.py`, `core/execute.no_such_function`,",
                "`tests/unit/test_layers.py::test_no_such_test`, `tests/e2e/test_nothing*.py`,",
                "see DESIGN.md, and `cfcompile.core.nothing` and `cfcompile.hashing.no_such_name`.",
                "Not references: `experiments/iris.py`, `data/cache/x.pkl`, `results/EXP.jsonl`,",
                "`workflows/iris/data/cache`, `.cfcompile/iris/v/DIGEST/`, `/tmp/x/docs/y.md`,",
                "`cluster_profiles/slurm/cfcompile.yaml`, `cfcompile.yaml`, `PROJECT/docs/x`.",
            ]
        ),
    )
    readme = Text("README.md", REPO, "[gone](docs/no-such-page.md)")
    found = path_problems([planted, readme], repo)
    names = name_problems([planted])
    print("\n".join(found + names))  # the evidence, shown with -s
    for stale in (
        "`tests/test_hash_oracle.py`",
        "`tests/unit/test_nothing.py`",
        "`core/nothing.py`",
        "`core/execute.no_such_function`",
        "`tests/unit/test_layers.py::test_no_such_test`",
        "`tests/e2e/test_nothing*.py`",
        "`DESIGN.md`",
        "`docs/no-such-page.md`",
    ):
        assert any(stale in p for p in found), stale
    assert len(found) == 8, found  # and nothing in the second half of the text
    assert [n.split(": ")[1] for n in names] == [
        "`cfcompile.core.nothing`",
        "`cfcompile.hashing.no_such_name`",
    ], names


def test_the_layer_map_lists_every_module_and_nothing_else():
    problems = map_problems(LAYER_MAP.read_text(), mapped_modules())
    assert not problems, "docs/compiling.md's layer map:\n" + "\n".join(problems)


def test_the_layer_map_check_fails_on_a_missing_or_invented_module():
    wanted = mapped_modules()
    text = LAYER_MAP.read_text()
    assert "| `cfcompile/core/reads.py` |" in text
    planted = text.replace("| `cfcompile/core/reads.py` |", "| `cfcompile/core/readings.py` |")
    planted += (
        "\n| `cfcompile/core/reads.py` | again |\n| `cfcompile/core/reads.py` | and again |\n"
    )
    planted = planted.replace("| `cfcompile/core/watch.py` |", "| watch.py, unlisted |")
    problems = map_problems(planted, wanted)
    print("\n".join(problems))  # the evidence, shown with -s
    assert problems == [
        "listed twice: cfcompile/core/reads.py",
        "missing from the layer map: cfcompile/core/watch.py",
        "on the layer map but not a module: cfcompile/core/readings.py",
    ]


def test_the_readme_keeps_at_most_150_lines_above_its_first_table():
    lines = (REPO / "README.md").read_text().splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert first_table <= 150, f"{first_table} lines above the README's first table"


def test_the_readmes_benchmark_table_is_the_benchmarks_page_s():
    """The README keeps one current table; the site's benchmarks page has the same rows."""
    readme = (REPO / "README.md").read_text().splitlines()
    rows = [line for line in readme if line.startswith("| (")]
    assert rows and rows[0].startswith("| (g)"), "the README's benchmark table starts with (g)"
    page = (REPO / "docs" / "benchmarks.md").read_text().splitlines()
    assert [line for line in rows if line not in page] == []
