"""Reuse must never give a parameter set another set's value: cases an adversary found.

Each test builds a small project, runs it through the routes a researcher uses (the README pipe
``cfcompile EXP -p P | snakemake -s /dev/stdin --cores 2 -k``, the same with
``CFCOMPILE_WORKER=0``, ``--eager``, and ``--reuse`` for stages that declare nothing) and
compares every output value per (stage, output, parameter set) with a fresh ``--no-reuse
--eager`` run of a separate copy of the same project (for edit sequences: a copy taken through
the same commands with ``--no-reuse --eager``; curifactory keeps cached values across code
edits, so only new nodes see new code). Where a case is about ``--dry-run``, what the dry run
predicts is checked against the copies the run then makes (a copy's metadata has
``reused_from``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import PROJECTS, pipe, run_cli, write_project

CONFIG = json.dumps({"cache_path": "data/cache/"})


# -- helpers ------------------------------------------------------------------------------------
def make(root: Path, files: dict[str, str]) -> Path:
    return write_project(root, {"curifactory_config.json": CONFIG, **files})


_LOAD_PICKLES = r"""
import json, pickle, sys
out = {}
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        out[path] = repr(pickle.load(f))
print(json.dumps(out))
"""


def pythonpath(*first: Path) -> str:
    """PYTHONPATH with ``first`` ahead of what the environment already has."""
    return os.pathsep.join([*map(str, first), *filter(None, [os.environ.get("PYTHONPATH")])])


def values(root: Path, cache: str = "data/cache") -> dict[tuple[str, str, str], object]:
    """Every cached output: (stage, output, params_name) -> value (a JSON file's value, a
    pickle's repr, unpickled in a fresh interpreter inside the project)."""
    folder = root / cache
    found: dict[tuple[str, str, str], object] = {}
    pickles: dict[str, tuple[str, str, str]] = {}
    for meta_path in sorted(folder.glob("*_metadata.json")):
        meta = json.loads(meta_path.read_text())
        key = (meta["stage"], meta["artifact_name"], meta["params_name"])
        stem = str(meta_path)[: -len("_metadata.json")]
        if Path(stem + ".json").exists():
            found[key] = json.loads(Path(stem + ".json").read_text())
        elif Path(stem + ".pkl").exists():
            pickles[stem + ".pkl"] = key
        else:
            found[key] = "<no file>"
    if pickles:
        proc = subprocess.run(
            [sys.executable, "-c", _LOAD_PICKLES, *pickles],
            cwd=root,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": pythonpath(root)},
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        for path, text in json.loads(proc.stdout).items():
            found[pickles[path]] = text
    return found


def fresh_values(
    files: dict[str, str],
    tmp_path: Path,
    experiment: str = "e",
    *params: str,
    name: str = "fresh",
    check: bool = True,
) -> dict:
    """What a fresh ``--no-reuse --eager`` run of a separate copy of the project gives."""
    root = make(tmp_path / name, files)
    run_cli(experiment, *(params or ("-p", "p")), "--no-reuse", "--eager", cwd=root, check=check)
    return values(root)


def readme(root: Path, *args: str, env: dict | None = None, check: bool = True):
    """The README pipe; ``args`` are cfcompile's (experiment, -p ..., flags)."""
    proc = pipe(root, *args, cores="2", snakemake_args=("-k",), env=env)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


NO_WORKER = {"CFCOMPILE_WORKER": "0"}


def route(root: Path, how: str, *args: str, check: bool = True):
    """Run ``args`` by one route: "pipe", "pipe-no-worker" or "eager"."""
    if how == "pipe":
        return readme(root, *args, check=check)
    if how == "pipe-no-worker":
        return readme(root, *args, env=NO_WORKER, check=check)
    if how == "eager":
        return run_cli(*args, "--eager", cwd=root, check=check)
    raise ValueError(how)


def output(proc) -> str:
    return f"{proc.stdout}\n{proc.stderr}"


def predicted_classes(root: Path, run_args: tuple[str, ...], env=None) -> dict:
    """What ``--dry-run --json`` says of each node to run that shares its computation: class ->
    (its nodes, how many of them copy). Which node of a class computes first in a parallel
    run is the class lock's to decide; the dry run names the first in trace order, so the
    agreement is per class: the same nodes, the same number of copies."""
    args = [a for a in run_args if a != "--eager"]
    proc = run_cli(*args, "--dry-run", "--json", cwd=root, env=env)
    classes: dict[str, tuple[set, int]] = {}
    for row in json.loads(proc.stdout)["nodes"]:
        key = row.get("reuse_class")
        if key is None or row.get("status") != "run":
            continue
        nodes, copies = classes.get(key, (set(), 0))
        nodes.add((row["stage"], row["params"]))
        classes[key] = (nodes, copies + (1 if row.get("reuses") else 0))
    return {k: v for k, v in classes.items() if v[1]}


def _metadata_state(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in (root / "data" / "cache").glob("*_metadata.json")
    }


def classes_since(root: Path, before: dict[str, tuple[int, int]]) -> dict:
    """The same view of what the run did: class -> (the nodes it wrote, how many copied)."""
    classes: dict[str, tuple[set, int]] = {}
    seen = set()
    for path, state in _metadata_state(root).items():
        if before.get(path) == state:
            continue
        meta = json.loads(Path(path).read_text())
        key, node = meta.get("reuse_class"), (meta["stage"], meta["params_name"])
        if key is None or node in seen:
            continue
        seen.add(node)
        nodes, copies = classes.get(key, (set(), 0))
        nodes.add(node)
        classes[key] = (nodes, copies + (1 if "reused_from" in meta else 0))
    return {k: v for k, v in classes.items() if v[1]}


def assert_dry_run_agrees(
    root: Path,
    run_args: tuple[str, ...],
    how: str = "pipe",
    expected: dict | None = None,
) -> tuple[dict, dict]:
    """``--dry-run --json`` before the run names exactly the classes the run then shares,
    each with its nodes and its number of copies (and, when ``expected`` is given, the run
    leaves exactly those values, checked first)."""
    env = NO_WORKER if how == "pipe-no-worker" else None
    predicted = predicted_classes(root, run_args, env=env)
    before = _metadata_state(root)
    route(root, how, *run_args)
    made = classes_since(root, before)
    if expected is not None:
        assert_fresh(root, expected, f"{how} (values)")
    assert predicted == made, (
        f"{how}: --dry-run predicted {sorted(predicted.values())}, the run made "
        f"{sorted(made.values())}"
    )
    return predicted, made


def diff(got: dict, want: dict) -> str:
    keys = sorted(set(got) | set(want))
    return "; ".join(
        f"{k}: got {got.get(k, '<missing>')!r}, fresh {want.get(k, '<missing>')!r}"
        for k in keys
        if got.get(k, "<missing>") != want.get(k, "<missing>")
    )


def assert_fresh(root: Path, fresh: dict, how: str) -> None:
    got = values(root)
    assert got == fresh, f"{how}: {diff(got, fresh)}"


def files_of(root: Path, stage: str) -> list[Path]:
    return sorted((root / "data" / "cache").glob(f"*_{stage}_*"))


# -- 1. a parent path drops fields ----------------------------------------------------------
NESTED = {
    "params/p.py": """
        from dataclasses import dataclass, field

        import cfcompile as cf


        @dataclass
        class Data:
            name: str = "iris"
            size: int = 10


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 0
            data: Data = field(default_factory=Data)


        def get_params():
            # curifactory's hash skips a nested field called name: the sets differ by seed
            return [
                P(name="a", seed=1, data=Data("iris", 10)),
                P(name="b", seed=2, data=Data("wine", 10)),
            ]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["x"], cachers=[JsonCacher], uses=["data"])
        def x(record):
            return f"{record.params.data.name}-{record.params.data.size}"


        def run(param_sets, manager):
            for p in param_sets:
                x(cf.Record(manager, p))
    """,
}


def test_a_declared_parent_path_keeps_the_fields_its_hash_leaves_out(tmp_path):
    fresh = fresh_values(NESTED, tmp_path)
    assert fresh == {("x", "x", "a"): "iris-10", ("x", "x", "b"): "wine-10"}
    args = ("e", "-p", "p")
    for how in ("pipe", "eager"):
        root = make(tmp_path / how, NESTED)
        predicted = predicted_classes(root, args)
        route(root, how, *args)
        assert_fresh(root, fresh, how)
        assert not predicted, f"--dry-run predicts a reuse between a and b: {predicted}"
    for how in ("pipe", "eager"):
        assert_dry_run_agrees(make(tmp_path / f"agree-{how}", NESTED), args, how, fresh)


# -- 2. a function-valued parameter -----------------------------------------------------------
FUNCTIONS = {
    "fns/__init__.py": "",
    "fns/fa.py": """
        def f(x):
            return x * 2
    """,
    "fns/fb.py": """
        def f(x):
            return x * 3
    """,
    "params/p.py": """
        from dataclasses import dataclass
        from typing import Callable

        import cfcompile as cf
        from fns import fa, fb


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 0
            fn: Callable = None


        def get_params():
            # the same qualname (f) for both functions: the sets differ by seed
            return [P(name=f"s{i}", seed=i, fn=fa.f if i % 2 == 0 else fb.f) for i in range(6)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["y"], cachers=[JsonCacher], uses=["fn"])
        def apply(record):
            return record.params.fn(10)


        def run(param_sets, manager):
            for p in param_sets:
                apply(cf.Record(manager, p))
    """,
}


def test_a_function_valued_parameter_merges_only_the_same_function(tmp_path):
    fresh = fresh_values(FUNCTIONS, tmp_path)
    assert fresh == {("apply", "y", f"s{i}"): (20 if i % 2 == 0 else 30) for i in range(6)}
    for how in ("pipe", "pipe-no-worker"):
        root = make(tmp_path / how, FUNCTIONS)
        assert_dry_run_agrees(root, ("e", "-p", "p"), how, fresh)


# -- 3. the parameter class is part of the key -------------------------------------------------
CLASSES = {
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class Linear(cf.ExperimentParameters):
            seed: int = 0
            x: int = 5

            def scale(self):
                return 2 * self.x


        @dataclass
        class Cubic(Linear):
            def scale(self):
                return self.x**3


        def get_params():
            return [Linear(name="lin", seed=1, x=5), Cubic(name="cub", seed=2, x=5)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["declared"], cachers=[JsonCacher], uses=["x"])
        def scaled(record):
            return record.params.scale()


        @cf.stage(outputs=["learned"], cachers=[JsonCacher])
        def scaled_learned(record):
            return record.params.scale()


        def run(param_sets, manager):
            for p in param_sets:
                r = cf.Record(manager, p)
                scaled(r)
                scaled_learned(r)
    """,
}


def test_the_parameter_class_is_part_of_what_a_stage_reads(tmp_path):
    fresh = fresh_values(CLASSES, tmp_path)
    assert fresh[("scaled", "declared", "lin")] == 10
    assert fresh[("scaled", "declared", "cub")] == 125
    args = ("e", "-p", "p")
    for how in ("pipe", "eager"):
        assert_dry_run_agrees(make(tmp_path / how, CLASSES), args, how, fresh)
    # --reuse: the undeclared variant learns its reads; lin first, then cub may copy it
    root = make(tmp_path / "reuse-eager", CLASSES)
    run_cli(*args, "--reuse", "--eager", cwd=root)
    assert_fresh(root, fresh, "--reuse --eager")
    root = make(tmp_path / "reuse-pipe", CLASSES)
    readme(root, *args, "--reuse", "--names", "lin")
    readme(root, *args, "--reuse")
    assert_fresh(root, fresh, "--reuse pipe")


# -- 4. an output that holds record.params ----------------------------------------------------
HOLDS_PARAMS = {
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class Params(cf.ExperimentParameters):
            seed: int = 0
            lr: float = 1.0


        def get_params():
            return [Params(name="a", seed=1, lr=1.0), Params(name="b", seed=1, lr=2.0)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import PickleCacher


        @cf.stage(outputs=["result"], cachers=[PickleCacher], uses=["seed"])
        def keep(record):
            return {"score": record.params.seed, "config": record.params}


        def run(param_sets, manager):
            for p in param_sets:
                keep(cf.Record(manager, p))
    """,
    "experiments/learned.py": """
        import cfcompile as cf
        from cfcompile.caching import PickleCacher


        @cf.stage(outputs=["held"], cachers=[PickleCacher])
        def dump(record):
            return {"params": record.params}


        def run(param_sets, manager):
            for p in param_sets:
                dump(cf.Record(manager, p))
    """,
}


def test_an_output_holding_record_params_is_never_another_sets(tmp_path):
    for how in ("pipe", "eager"):
        root = make(tmp_path / how, HOLDS_PARAMS)
        proc = route(root, how, "e", "-p", "p", check=False)
        if proc.returncode != 0:  # refused: the stage used the whole parameter object
            text = output(proc)
            assert "stage 'keep'" in text, text[-3000:]
            # the eager route prints the message alone; the pipe's summary names the class
            assert how == "eager" or "UndeclaredParameterError" in text, text[-3000:]
            assert not files_of(root, "keep"), f"{how}: written although refused"
            continue
        got = values(root)
        for name in ("a", "b"):
            held = got[("keep", "result", name)]
            assert f"name='{name}'" in held, f"{how}: set {name}'s cache holds {held}"
    for how in ("reuse-eager", "reuse-pipe"):
        root = make(tmp_path / how, HOLDS_PARAMS)
        if how == "reuse-eager":
            run_cli("learned", "-p", "p", "--reuse", "--eager", cwd=root)
        else:
            readme(root, "learned", "-p", "p", "--reuse", "--names", "a")
            readme(root, "learned", "-p", "p", "--reuse")
        got = values(root)
        for name in ("a", "b"):
            held = got[("dump", "held", name)]
            assert f"name='{name}'" in held, f"--reuse {how}: set {name}'s cache holds {held}"


# -- 5. a stage called inside a stage ---------------------------------------------------------
NESTED_PARAMS = """
    from dataclasses import dataclass

    import cfcompile as cf


    @dataclass
    class P(cf.ExperimentParameters):
        a: int = 0
        b: int = 0
        c: int = 0


    def get_params():
        return [P(name="s1", a=1, b=1, c=1), P(name="s2", a=2, b=1, c=2)]
"""


def nested_stages(inner_uses: str, outer_uses: str, outer_tail: str = "") -> dict[str, str]:
    experiment = f"""
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["i"], cachers=[JsonCacher]{inner_uses})
        def inner(record):
            return record.params.a + 100 * record.params.b


        @cf.stage(outputs=["o"], cachers=[JsonCacher]{outer_uses})
        def outer(record):
            first = record.params.a
            inner(record)
            return first{outer_tail}


        def run(param_sets, manager):
            for p in param_sets:
                outer(cf.Record(manager, p))
    """
    return {"params/p.py": NESTED_PARAMS, "experiments/e.py": experiment}


def test_a_stage_called_inside_a_stage_keeps_its_own_reads(tmp_path):
    args = ("e", "-p", "p")
    # (a) the inner stage (learned, --reuse) reads a, which the outer read first
    files = nested_stages("", "")
    fresh = fresh_values(files, tmp_path)
    assert fresh[("inner", "i", "s2")] == 102
    root = make(tmp_path / "a-eager", files)
    run_cli(*args, "--reuse", "--eager", cwd=root)
    assert_fresh(root, fresh, "(a) --reuse --eager")
    root = make(tmp_path / "a-pipe", files)
    readme(root, *args, "--reuse", "--names", "s1")
    readme(root, *args, "--reuse")
    assert_fresh(root, fresh, "(a) --reuse pipe")

    # (b) an inner stage declaring uses=["b"] that reads a (read first by the outer) fails
    files = nested_stages(', uses=["b"]', "")
    for how in ("eager", "pipe"):
        root = make(tmp_path / f"b-{how}", files)
        proc = route(root, how, *args, check=False)
        text = output(proc)
        assert proc.returncode != 0, f"(b) {how}: no error although inner read an undeclared a"
        assert how == "eager" or "UndeclaredParameterError" in text, text[-3000:]
        assert "stage 'inner'" in text and "record.params.a" in text, text[-3000:]
        assert not files_of(root, "inner"), f"(b) {how}: inner written although refused"

    # (c) a read of the outer after the inner returned is recorded in the outer's metadata
    files = nested_stages("", "", " + record.params.c")
    root = make(tmp_path / "c", files)
    run_cli(*args, "--eager", cwd=root)
    outer_meta = list((root / "data" / "cache").glob("*_outer_o_metadata.json"))
    assert len(outer_meta) == 2, outer_meta
    for meta in outer_meta:
        fields = json.loads(meta.read_text())["params_read"]["fields"]
        assert "c" in fields or fields == ["*"], f"(c) outer read c after inner: {fields}"

    # (d) cfcompile's own reads (metadata of the inner) are never the researcher's
    files = nested_stages(', uses=["a", "b"]', ', uses=["a", "b"]')
    for how in ("eager", "pipe"):
        root = make(tmp_path / f"d-{how}", files)
        proc = route(root, how, *args, check=False)
        text = output(proc)
        for field in ("name", "hash_representations"):
            assert f"add '{field}'" not in text, f"(d) {how}: {text[-3000:]}"
        assert proc.returncode == 0, f"(d) {how}: {text[-3000:]}"


# -- 6. reads in forked multiprocessing workers ----------------------------------------------
FORKED = {
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 1
            k: int = 0


        def get_params():
            return [P(name="s1", k=4), P(name="s2", k=6)]
    """,
    "experiments/e.py": """
        import multiprocessing

        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        CURRENT = None


        def work(i):
            return CURRENT.k * (i + 1)  # read in the forked worker only


        @cf.stage(outputs=["total"], cachers=[JsonCacher])
        def pooled(record):
            global CURRENT
            CURRENT = record.params
            base = record.params.seed
            with multiprocessing.get_context("fork").Pool(2) as pool:
                return base + sum(pool.map(work, range(2)))


        def run(param_sets, manager):
            for p in param_sets:
                pooled(cf.Record(manager, p))
    """,
}


def test_reads_in_forked_workers_are_not_lost(tmp_path):
    fresh = fresh_values(FORKED, tmp_path)
    assert fresh == {("pooled", "total", "s1"): 13, ("pooled", "total", "s2"): 19}
    args = ("e", "-p", "p", "--reuse")
    root = make(tmp_path / "eager", FORKED)
    run_cli(*args, "--eager", cwd=root)
    assert_fresh(root, fresh, "--reuse --eager")
    root = make(tmp_path / "pipe", FORKED)
    readme(root, *args, "--names", "s1")
    readme(root, *args)
    assert_fresh(root, fresh, "--reuse pipe")


# -- 7. code identity sees edits --------------------------------------------------------------
def add_set(root: Path, name: str, **fields) -> None:
    """Append a parameter set to params/p.py's EXTRA list."""
    path = root / "params" / "p.py"
    path.write_text(path.read_text() + f"\nEXTRA.append(P(name={name!r}, **{fields!r}))\n")


def replace(root: Path, rel: str, old: str, new: str) -> None:
    """Edit a file; its new modification time differs from the old one by whole seconds, so
    that a same-size edit (FACTOR = 2 -> 3) is never hidden by a stale __pycache__ entry."""
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    before = path.stat().st_mtime
    path.write_text(text.replace(old, new))
    os.utime(path, (before + 2, before + 2))


EDIT_PARAMS = """
    from dataclasses import dataclass

    import cfcompile as cf


    @dataclass
    class P(cf.ExperimentParameters):
        seed: int = 0
        x: int = 5


    def get_params():
        return [P(name="s1", seed=1, x=5), *EXTRA]


    EXTRA = []
"""

HELPER_PACKAGE = {
    "helpers/__init__.py": """
        from helpers.core import compute
    """,
    "helpers/core.py": """
        FACTOR = 2


        def compute(x):
            return x * FACTOR
    """,
    "params/p.py": EDIT_PARAMS,
    "experiments/e.py": """
        import cfcompile as cf
        import helpers
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["y"], cachers=[JsonCacher], uses=["x"])
        def compute(record):
            return helpers.compute(record.params.x)


        def run(param_sets, manager):
            for p in param_sets:
                compute(cf.Record(manager, p))
    """,
}

CONSTANT = {
    "params/p.py": EDIT_PARAMS,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        OFFSET = 1


        @cf.stage(outputs=["u"], cachers=[JsonCacher], uses=["x"])
        def up(record):
            return record.params.x + OFFSET


        def run(param_sets, manager):
            for p in param_sets:
                r = cf.Record(manager, p)
                up(r)
    """,
}

DOWNSTREAM = """

@cf.stage(inputs=["u"], outputs=["d"], cachers=[JsonCacher], uses=["x"])
def down(record, u):
    return u + 5


def run(param_sets, manager):
    for p in param_sets:
        down(up(cf.Record(manager, p)))
"""

FACTOR_IN_EXPERIMENT = {
    "params/p.py": EDIT_PARAMS,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        FACTOR = 2


        @cf.stage(outputs=["y"], cachers=[JsonCacher], uses=["x"])
        def times(record):
            return record.params.x * FACTOR


        def run(param_sets, manager):
            for p in param_sets:
                times(cf.Record(manager, p))
    """,
}


class Twins:
    """A project and its reference copy, taken through the same commands; the reference runs
    each with ``--no-reuse --eager``."""

    def __init__(self, tmp_path: Path, files: dict[str, str], name: str):
        self.root = make(tmp_path / name, files)
        self.ref = make(tmp_path / f"{name}-reference", files)

    def edit(self, step) -> None:
        step(self.root)
        step(self.ref)

    def run(self, *args: str, agree: bool = False) -> None:
        run_cli(*args, "--no-reuse", "--eager", cwd=self.ref)
        if agree:
            assert_dry_run_agrees(self.root, args, "pipe", values(self.ref))
        else:
            readme(self.root, *args)

    def check(self, what: str) -> None:
        assert_fresh(self.root, values(self.ref), what)


def test_code_identity_sees_edits_to_helpers_constants_and_reverts(tmp_path):
    args = ("e", "-p", "p")
    # (a) a helper package re-exporting a function whose module's constant is edited
    t = Twins(tmp_path, HELPER_PACKAGE, "a")
    t.run(*args)
    t.edit(lambda r: replace(r, "helpers/core.py", "FACTOR = 2", "FACTOR = 3"))
    t.edit(lambda r: add_set(r, "s2", seed=2, x=5))
    t.run(*args, agree=True)
    t.check("(a) helpers/core.py edited")
    assert values(t.ref)[("compute", "y", "s2")] == 15

    # (b) an edited module constant and a new downstream stage: no copy of a stale upstream
    t = Twins(tmp_path, CONSTANT, "b")
    t.run(*args)
    t.edit(lambda r: replace(r, "experiments/e.py", "OFFSET = 1", "OFFSET = 6"))
    t.edit(
        lambda r: (r / "experiments/e.py").write_text(
            (r / "experiments/e.py").read_text().split("\ndef run(")[0] + DOWNSTREAM
        )
    )
    t.edit(lambda r: add_set(r, "s2", seed=2, x=5))
    t.run(*args, agree=True)
    t.check("(b) OFFSET edited, down added")
    assert values(t.ref)[("down", "d", "s2")] == 16

    # (c) edit, --overwrite, revert, add a set
    t = Twins(tmp_path, FACTOR_IN_EXPERIMENT, "c")
    t.run(*args)
    t.edit(lambda r: replace(r, "experiments/e.py", "FACTOR = 2", "FACTOR = 3"))
    t.run(*args, "--overwrite")
    t.edit(lambda r: replace(r, "experiments/e.py", "FACTOR = 3", "FACTOR = 2"))
    t.edit(lambda r: add_set(r, "s2", seed=2, x=5))
    t.run(*args, agree=True)
    t.check("(c) edit, --overwrite, revert, add")
    assert values(t.ref)[("times", "y", "s2")] == 10


# -- 8. a stage that writes a parameter ------------------------------------------------------
WRITES = {
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            x: int = 0


        def get_params():
            return [P(name="s1", x=1), P(name="s2", x=2)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["w"], cachers=[JsonCacher])
        def writer(record):
            record.params.x = 100
            return 1


        @cf.stage(inputs=["w"], outputs=["r"], cachers=[JsonCacher])
        def reader(record, w):
            return record.params.x + w


        def run(param_sets, manager):
            for p in param_sets:
                reader(writer(cf.Record(manager, p)))
    """,
}


def test_a_stage_that_writes_a_parameter_is_refused_on_every_route(tmp_path):
    source = WRITES["experiments/e.py"]
    lines = source.strip("\n").splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if "record.params.x = 100" in text)
    where = f"experiments/e.py:{line}"
    routes = {
        "pipe": lambda r: readme(r, "e", "-p", "p", check=False),
        "pipe-no-worker": lambda r: readme(r, "e", "-p", "p", env=NO_WORKER, check=False),
        "eager": lambda r: run_cli("e", "-p", "p", "--eager", cwd=r, check=False),
        "eager-no-reuse": lambda r: run_cli(
            "e", "-p", "p", "--eager", "--no-reuse", cwd=r, check=False
        ),
    }
    for how, go in routes.items():
        root = make(tmp_path / how, WRITES)
        proc = go(root)
        text = output(proc)
        got = values(root)
        assert proc.returncode != 0, f"{how}: the run succeeded with {got}"
        assert "ParameterWriteError" in text, f"{how}: {text[-3000:]}"
        assert "writer" in text and re.search(r"\bx\b", text), f"{how}: {text[-3000:]}"
        assert where in text, f"{how}: the assignment's line {where} is not named"
        assert not files_of(root, "writer"), f"{how}: writer's outputs were cached"


# -- 9. an object whose repr leaves its value out ---------------------------------------------
def optimizer_files(hash_representation: bool) -> dict[str, str]:
    hashing = (
        "hash_representations: dict = cf.set_hash_functions(opt=lambda p, v: str(v.lr))"
        if hash_representation
        else ""
    )
    sets = (
        '[P(name="s1", seed=1, opt=Adam(0.1)), P(name="s2", seed=2, opt=Adam(0.1)), '
        'P(name="s3", seed=3, opt=Adam(0.5))]'
        if hash_representation
        else '[P(name="s1", seed=1, opt=Adam(0.1)), P(name="s2", seed=2, opt=Adam(0.5))]'
    )
    params = f"""
from dataclasses import dataclass

import cfcompile as cf


class Adam:
    def __init__(self, lr):
        self.lr = lr

    def __repr__(self):
        return "Adam()"


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 0
    opt: Adam = None
    {hashing}


def get_params():
    return {sets}
"""
    experiment = """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["lr"], cachers=[JsonCacher], uses=["opt"])
        def learning_rate(record):
            return record.params.opt.lr


        def run(param_sets, manager):
            for p in param_sets:
                learning_rate(cf.Record(manager, p))
    """
    return {"params/p.py": params, "experiments/e.py": experiment}


def test_an_object_whose_repr_leaves_its_value_out_is_never_merged(tmp_path):
    files = optimizer_files(False)
    fresh = fresh_values(files, tmp_path)
    assert fresh == {("learning_rate", "lr", "s1"): 0.1, ("learning_rate", "lr", "s2"): 0.5}
    for how in ("pipe", "eager"):
        root = make(tmp_path / how, files)
        route(root, how, "e", "-p", "p")
        assert_fresh(root, fresh, how)
    dry = run_cli("e", "-p", "p", "--dry-run", cwd=make(tmp_path / "dry", files)).stdout
    assert any("opt" in line and "never merged" in line for line in dry.splitlines()), dry
    # with a hash representation that holds the value, equal learning rates merge again
    files = optimizer_files(True)
    fresh = fresh_values(files, tmp_path, name="fresh-hashed")
    root = make(tmp_path / "hashed", files)
    readme(root, "e", "-p", "p")
    assert_fresh(root, fresh, "hash_representations")
    copies = {
        json.loads(m.read_text())["params_name"]: json.loads(m.read_text()).get("reused_from")
        for m in (root / "data" / "cache").glob("*_metadata.json")
    }
    assert copies["s3"] is None
    assert bool(copies["s1"]) != bool(copies["s2"]), copies  # one of the two copies the other


# -- 10. --dry-run predicts only the copies the run makes ------------------------------------
EDITED_STAGE = {
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 0
            x: int = 5


        def get_params():
            return [P(name="s1", seed=1, x=5), P(name="s2", seed=2, x=5)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["u"], cachers=[JsonCacher], uses=["x"])
        def up(record):
            return record.params.x * 2


        def run(param_sets, manager):
            for p in param_sets:
                up(cf.Record(manager, p))
    """,
}

DOWN_OF_UP = """

@cf.stage(inputs=["u"], outputs=["d"], cachers=[JsonCacher], uses=["x"])
def down(record, u):
    return u + 5


def run(param_sets, manager):
    for p in param_sets:
        down(up(cf.Record(manager, p)))
"""


def test_dry_run_predicts_no_copy_downstream_of_outputs_written_by_older_code(tmp_path):
    args = ("e", "-p", "p")
    t = Twins(tmp_path, EDITED_STAGE, "edited")
    t.run(*args)
    # up's cached outputs stay (as in curifactory) but were written by older code; a new
    # downstream stage reads them
    t.edit(lambda r: replace(r, "experiments/e.py", "x * 2", "x * 2 + 1"))
    t.edit(
        lambda r: (r / "experiments/e.py").write_text(
            (r / "experiments/e.py").read_text().split("\ndef run(")[0] + DOWN_OF_UP
        )
    )
    t.run(*args, agree=True)
    t.check("up edited, down added")


# -- 11. a reporter inside a declared stage ---------------------------------------------------
REPORTS = {
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 0


        def get_params():
            return [P(name="s1", seed=1), P(name="s2", seed=2)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["score"], cachers=[JsonCacher], uses=["seed"])
        def scored(record):
            record.report(cf.reporting.JsonReporter({"seed": record.params.seed}))
            return record.params.seed * 2


        def run(param_sets, manager):
            for p in param_sets:
                scored(cf.Record(manager, p))
    """,
}


def test_a_reporter_in_a_declared_stage_is_not_a_read_of_name(tmp_path):
    for how in ("eager", "pipe"):
        root = make(tmp_path / how, REPORTS)
        proc = route(root, how, "e", "-p", "p", check=False)
        text = output(proc)
        assert "add 'name'" not in text, f"{how}: {text[-3000:]}"
        assert proc.returncode == 0, f"{how}: {text[-3000:]}"


# -- 12. a cached_property that reads an undeclared field ------------------------------------
CACHED_PROPERTY = {
    "params/p.py": """
        import functools
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 0
            k: int = 0

            @functools.cached_property
            def doubled(self):
                return self.k * 2


        def get_params():
            return [P(name="s1", seed=1, k=1), P(name="s2", seed=1, k=2)]
    """,
    "experiments/e.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["y"], cachers=[JsonCacher], uses=["seed"])
        def prop(record):
            return record.params.seed + record.params.doubled


        def run(param_sets, manager):
            for p in param_sets:
                prop(cf.Record(manager, p))
    """,
}


def test_an_undeclared_read_in_a_cached_property_names_the_researchers_line(tmp_path):
    for how in ("eager", "pipe"):
        root = make(tmp_path / how, CACHED_PROPERTY)
        proc = route(root, how, "e", "-p", "p", check=False)
        text = output(proc)
        assert proc.returncode != 0, f"{how}: no error: {values(root)}"
        assert "stage 'prop'" in text, text[-3000:]
        assert how == "eager" or "UndeclaredParameterError" in text, text[-3000:]
        assert "functools.py" not in text, f"{how}: {text[-3000:]}"
        assert re.search(r"(params/p\.py|experiments/e\.py):\d+", text), f"{how}: {text[-3000:]}"


# -- 13. a project that needs PYTHONPATH (curifactory's own test harness layout) -------------
def test_a_project_run_with_its_root_on_pythonpath(tmp_path):
    """curifactory's test layout (tests/projects/curifactory_examples/NOTICE.md): experiments
    in test.examples.experiments, run from the repository root with it on PYTHONPATH.

    Reported failing with "No module named 'test.examples'"; at 69c7592 it passed on the
    machine this test was written on (pipe, CFCOMPILE_WORKER=0, --eager, console script or
    ``python -m``), so it guards the case rather than reproducing it."""
    source = PROJECTS / "curifactory_examples" / "repo-root"
    args = ("basic", "-p", "params1", "-p", "params2")
    for how in ("pipe", "eager"):
        root = tmp_path / how
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("__pycache__", "data"))
        env = {"PYTHONPATH": pythonpath(root)}
        if how == "pipe":
            proc = pipe(root, *args, cores="2", snakemake_args=("-k",), env=env)
        else:
            proc = run_cli(*args, "--eager", cwd=root, env=env, check=False)
        text = output(proc)
        assert "No module named" not in text, f"{how}: {text[-3000:]}"
        assert proc.returncode == 0, f"{how}: {text[-3000:]}"
        if how == "pipe":  # sum_data has no cacher: a compiled job hands it on in a .pkl
            got = values(root, "test/examples/data/cache")
            sums = sorted(v for (stage, _, _), v in got.items() if stage == "sum_data")
            assert sums == ["3", "6", "9"], got  # curifactory's sums (NOTICE.md)
        else:
            assert "6 stage(s) ran" in text, text[-3000:]


# -- 14. the project's random.py never shadows the standard library's ----------------------
# A researcher's interpreter is a fresh virtual environment: ``python -m`` puts the working
# directory first on sys.path, and site adds the environment's site-packages. This machine's
# own interpreter also runs a .pth of its environment that imports certifi (and with it
# tempfile and random) at start-up, which hides the bug. So the test makes a virtual
# environment (no pip, seconds) whose site-packages hold a path file naming this
# interpreter's site-packages (a path line runs no .pth found there) and copies of the
# editable installs' own .pth files, and runs the real ``python -m cfcompile.cli`` in it.
def clean_python(folder: Path) -> Path:
    import site
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
    python = folder / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    base = [Path(p) for p in site.getsitepackages()]
    (target / "00-base.pth").write_text("".join(f"{p}\n" for p in base))
    for folder_ in base:
        for pth in folder_.glob("*.pth"):
            if pth.name.startswith("__editable__") or pth.name == "distutils-precedence.pth":
                shutil.copy(pth, target / pth.name)
    return python


SHADOWING = {
    "random.py": """
        import os

        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "SHADOWED"), "w") as f:
            f.write("the project's random.py was imported\\n")
        SHADOW = "the project's random.py"
    """,
    "params/p.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class P(cf.ExperimentParameters):
            seed: int = 0


        def get_params():
            return [P(name="s1", seed=1)]
    """,
    "experiments/e.py": """
        import random

        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["y"], cachers=[JsonCacher])
        def draw(record):
            return [random.Random(record.params.seed).random(), getattr(random, "SHADOW", None)]


        def run(param_sets, manager):
            for p in param_sets:
                draw(cf.Record(manager, p))
    """,
}


def test_the_cli_never_imports_a_projects_random_module(tmp_path):
    import random

    python = clean_python(tmp_path / "venv")
    probe = subprocess.run(
        [str(python), "-c", "import sys; print('random' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False", "the clean interpreter imports random at start-up"
    root = make(tmp_path / "shadow", SHADOWING)
    for args in (("--dry-run",), ("--eager",)):
        proc = subprocess.run(
            [str(python), "-m", "cfcompile.cli", "e", "-p", "p", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        text = output(proc)
        assert not (root / "SHADOWED").exists(), f"{args}: {text[-3000:]}"
        assert proc.returncode == 0, f"{args}: {text[-3000:]}"
    assert values(root) == {("draw", "y", "s1"): [random.Random(1).random(), None]}
