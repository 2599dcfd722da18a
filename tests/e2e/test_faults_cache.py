"""Faults at the cache boundary: values a cacher would change, outputs missing their metadata.

Real projects on disk, the real CLI in a subprocess and the real Snakemake
(``cfcompile EXP -p P | snakemake -s /dev/stdin --cores 1``), as a researcher runs them.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pickle
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from pathlib import Path

import pytest
from helpers import CHAIN, compiled_info, run_cli, snakemake, trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher, PickleCacher
from cfcompile.compiler import plan as planning
from cfcompile.errors import CfcompileError
from cfcompile.reporting import JsonReporter

PARAMS = {
    "params/__init__.py": CHAIN["params/__init__.py"],
    "params/few.py": CHAIN["params/few.py"],
}


@pytest.fixture(autouse=True)
def stage_log(tmp_path, monkeypatch):
    """Stages of these projects append to this file; jobs inherit it through the env."""
    path = tmp_path / "log"
    monkeypatch.setenv("CHAIN_LOG", str(path))
    return path


def compile_and_run(root: Path, *cli: str, check: bool = True) -> subprocess.CompletedProcess:
    """``cfcompile ... | snakemake -s /dev/stdin --cores 1``."""
    snakefile = run_cli(*cli, cwd=root).stdout
    return snakemake("-s", "/dev/stdin", "--cores", "1", cwd=root, stdin=snakefile, check=check)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# -- 1. a value JsonCacher cannot round-trip -----------------------------------------------------
VALUES = {
    **PARAMS,
    "experiments/values.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        @cf.stage(outputs=["v"], cachers=[JsonCacher])
        def make(record):
            return {"tags": {"a", "b"}, "names": {1: "one"}}

        @cf.stage(inputs=["v"], outputs=["seen"], cachers=[JsonCacher])
        def use(record, v):
            return [len(v["tags"]), v["names"].get(1, "MISSING"), type(v["tags"]).__name__]

        def run(param_sets, manager):
            for p in param_sets:
                use(make(cf.Record(manager, p)))
    """,
}


def assert_refusal(message: str, stage: str, output: str) -> None:
    assert f"stage '{stage}'" in message, message
    assert f"output '{output}'" in message, message
    assert "JsonCacher" in message and "PickleCacher" in message, message


def test_compiled_run_fails_the_stage_whose_value_json_would_change(project):
    """Before: Snakemake succeeded, and `use` saw [10, 'Reason.MISSING', 'str'] where eager sees
    [2, 'one', 'set']."""
    root = project(VALUES)
    proc = compile_and_run(root, "values", "-p", "few", "--names", "s0", check=False)
    assert proc.returncode != 0, "the stage must fail instead of caching a changed value"
    workdir = root / ".cfcompile" / "values"
    logs = "".join(p.read_text() for p in (workdir / "logs").rglob("*.log"))
    assert_refusal(logs, "make", "v")
    assert "'tags'" in logs and "set" in logs
    (failure,) = (workdir / "failures").glob("make_*.json")
    assert_refusal(json.loads(failure.read_text())["message"], "make", "v")
    cache = root / "data" / "cache"
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert left == [], left  # no output, no _metadata.json, no staging folder

    # the eager engine refuses it the same way, through the CLI's one-message error
    eager = run_cli("values", "-p", "few", "--names", "s0", "--eager", cwd=root, check=False)
    assert eager.returncode == 2 and "cfcompile: error:" in eager.stderr
    assert_refusal(eager.stderr, "make", "v")
    assert sorted(p.name for p in cache.iterdir()) == []


class Level(IntEnum):
    LOW = 1


def _numpy_int():
    np = pytest.importorskip("numpy")
    return {"n": np.int64(3)}


BAD_VALUES = {
    "set": lambda: {"tags": {"a", "b"}},
    "int key": lambda: {"names": {1: "one"}},
    "float key": lambda: {0.5: "half"},
    "bool key": lambda: {True: "yes"},
    "None key": lambda: {None: 1},
    "tuple key": lambda: {(1, 2): "pair"},
    "decimal": lambda: [Decimal("1.5")],
    "date": lambda: {"when": datetime.date(2020, 1, 2)},
    "object": lambda: [object()],
    "numpy int": _numpy_int,
    "circular": lambda: (lambda a: a.append(a) or a)([]),
}


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
def test_json_cacher_refuses_a_value_it_would_change_and_saves_nothing(tmp_path, kind):
    """Before: the value was written as str()/string keys and the stage counted as cached."""
    value = BAD_VALUES[kind]()

    @cf.stage(outputs=["fine", "bad"], cachers=[JsonCacher, JsonCacher])
    def produce(record):
        record.report(JsonReporter({"x": 1}, name="r"))
        return {"ok": [1, 2]}, value

    manager = cf.ArtifactManager("c", cache_path=str(tmp_path / "cache"))
    with pytest.raises(CfcompileError) as err:
        produce(cf.Record(manager, cf.ExperimentParameters(name="p")))
    assert_refusal(str(err.value), "produce", "bad")
    assert "parameter set 'p'" in str(err.value)
    # the first output, its metadata and the reportables were staged: none was published
    assert os.listdir(tmp_path / "cache") == []


def test_json_cacher_keeps_everything_json_holds_tuples_as_lists(tmp_path):
    """Tuples become lists, as in curifactory (see JsonCacher); every other value stays equal."""
    value = {
        "pair": (1, 2),
        "nested": [(0.5, "a"), {"k": (None, True)}],
        "nan": float("nan"),
        "inf": -math.inf,
        "whole float": 1.0,
        "big": 2**80,
        "flags": [True, False, None],
        "level": Level.LOW,
        "text": 'ü\n"',
    }

    @cf.stage(outputs=["v"], cachers=[JsonCacher])
    def keep(record):
        return value

    def run():
        manager = cf.ArtifactManager("c", cache_path=str(tmp_path / "cache"))
        return keep(cf.Record(manager, cf.ExperimentParameters(name="p"))), manager

    run()
    again, manager = run()
    assert manager.engine.cached == [("keep", "p")]
    back = again.state["v"]
    assert back["pair"] == [1, 2] and back["nested"] == [[0.5, "a"], {"k": [None, True]}]
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf
    assert type(back["whole float"]) is float and back["big"] == 2**80
    assert back["flags"] == [True, False, None] and back["level"] == 1 and back["text"] == 'ü\n"'


# -- 2. an output without its metadata -------------------------------------------------------
TRUNC = {
    **PARAMS,
    "experiments/trunc.py": """
        import os

        import cfcompile as cf
        from cfcompile.caching import JsonCacher, PickleCacher
        from cfcompile.reporting import JsonReporter


        def _log(what):
            with open(os.environ["CHAIN_LOG"], "a") as f:
                f.write(what + "\\n")


        @cf.stage(outputs=["data"], cachers=[PickleCacher])
        def make(record):
            _log(f"make {record.params.name}")
            return list(range(record.params.x + 3))


        @cf.stage(
            inputs=["data"],
            outputs=["n", "model.pkl", "side"],
            cachers=[
                JsonCacher,
                PickleCacher,
                JsonCacher(path_override="{cache}/custom_{hash}_side.json"),
            ],
        )
        def count(record, data):
            _log(f"count {record.params.name}")
            record.report(JsonReporter({"n": len(data)}, name="n"))
            return len(data), {"n": len(data)}, [len(data)]


        @cf.stage(inputs=["n"])
        def note(record, n):
            _log(f"note {record.params.name}")


        @cf.aggregate(inputs=["n"], outputs=["total"], cachers=[JsonCacher])
        def total(record, records, n):
            _log("total")
            return sum(n.values())


        def run(param_sets, manager):
            for p in param_sets:
                note(count(make(cf.Record(manager, p))))
            total(cf.Record(manager, None))
    """,
}


def set_hash(root: Path, experiment: str, index: int) -> str:
    return compiled_info(root, experiment)["param_sets"][index][1]


def truncate_without_metadata(path: Path) -> bytes:
    """What an interrupted copy (or a foreign run) leaves: half a file and no metadata."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    os.remove(str(path)[: -len(".pkl")] + "_metadata.json")
    return data[: len(data) // 2]


def dry_run(root: Path) -> dict:
    out = run_cli("trunc", "-p", "few", "--dry-run", "--json", cwd=root).stdout
    return {(n["stage"], n["params"]): (n["status"], n["reason"]) for n in json.loads(out)["nodes"]}


@pytest.mark.parametrize("batch", ["1", "2"])
def test_dry_run_reports_an_output_without_metadata_as_incomplete(project, stage_log, batch):
    """Before: the truncated file counted as cached; only `count` reran (Snakemake saw a newer
    input) and failed with a bare UnpicklingError."""
    root = project(TRUNC)
    compile_and_run(root, "trunc", "-p", "few", "--batch", batch)
    assert len(log_lines(stage_log)) == 3 * 3 + 1
    plan = dry_run(root)
    assert {status for status, _ in plan.values()} == {planning.Status.CACHED}, plan  # markers, too

    h1 = set_hash(root, "trunc", 1)
    truncate_without_metadata(root / "data" / "cache" / f"trunc_{h1}_make_data.pkl")
    plan = dry_run(root)
    assert plan.pop(("make", "s1")) == (planning.Status.RUN, planning.Reason.INCOMPLETE.text)
    assert plan.pop(("count", "s1")) == (planning.Status.RUN, planning.Reason.UPSTREAM.text)
    assert plan.pop(("note", "s1")) == (planning.Status.RUN, planning.Reason.UPSTREAM.text)
    assert plan.pop(("total", None)) == (planning.Status.RUN, planning.Reason.UPSTREAM.text)
    assert {status for status, _ in plan.values()} == {planning.Status.CACHED}, plan
    text = run_cli("trunc", "-p", "few", "--dry-run", cwd=root).stdout
    assert planning.Reason.INCOMPLETE.text in " ".join(text.split())


@pytest.mark.parametrize("batch", ["1", "2"])
def test_compiled_run_redoes_an_output_without_metadata_and_keeps_the_file(
    project, stage_log, batch
):
    """Before: every run failed in `count` with UnpicklingError; the truncated file stayed."""
    root = project(TRUNC)
    compile_and_run(root, "trunc", "-p", "few", "--batch", batch)
    cache = root / "data" / "cache"
    h1 = set_hash(root, "trunc", 1)
    data = cache / f"trunc_{h1}_make_data.pkl"
    half = truncate_without_metadata(data)
    stage_log.unlink()

    compile_and_run(root, "trunc", "-p", "few", "--batch", batch)
    assert sorted(log_lines(stage_log)) == ["count s1", "make s1", "note s1", "total"]
    assert pickle.loads(data.read_bytes()) == list(range(4))
    assert (cache / f"trunc_{h1}_make_data_metadata.json").exists()
    kept = cache / f"trunc_{h1}_make_data.pkl.incomplete"
    assert kept.read_bytes() == half  # set aside beside the output, never deleted
    total = next(cache.glob("trunc_*_total_total.json"))
    assert json.loads(total.read_text()) == 3 + 4 + 5

    again = compile_and_run(root, "trunc", "-p", "few", "--batch", batch)
    assert "Nothing to be done" in again.stdout + again.stderr


def metadata_of(cache: Path, pattern: str, params_name: str) -> Path:
    """The metadata file of one parameter set's output (its params_name says whose it is)."""
    for path in cache.glob(pattern):
        if json.loads(path.read_text())["params_name"] == params_name:
            return path
    raise AssertionError(f"no {pattern} of {params_name}")


def test_eager_run_redoes_an_output_without_metadata(project, stage_log):
    """Before: the next eager run loaded the truncated pickle and died (UnpicklingError)."""
    root = project(TRUNC)
    run_cli("trunc", "-p", "few", "--eager", cwd=root)
    stage_log.unlink()
    proc = run_cli("trunc", "-p", "few", "--eager", cwd=root)
    # a stage without outputs is never cached eagerly (curifactory); reportables come back
    notes = ["note s0", "note s1", "note s2"]
    assert "3 stage(s) ran, 7 cached" in proc.stderr and log_lines(stage_log) == notes
    stage_log.unlink()

    cache = root / "data" / "cache"
    meta = metadata_of(cache, "trunc_*_make_data_metadata.json", "s1")
    data = Path(str(meta).replace("_metadata.json", ".pkl"))
    truncate_without_metadata(data)
    run_cli("trunc", "-p", "few", "--eager", cwd=root)
    # eager: `count` stays cached (no upstream rule), as in curifactory
    assert log_lines(stage_log) == ["note s0", "make s1", "note s1", "note s2"]
    assert pickle.loads(data.read_bytes()) == list(range(4)) and meta.exists()


def test_a_cacher_outside_a_stage_needs_no_metadata(tmp_path):
    """curifactory's manual use (``JsonCacher(path_override=...).check()``) keeps working: only
    cachers a stage saves, which always write metadata, require it."""
    cacher = JsonCacher(path_override=str(tmp_path / "manual.json"))
    assert not cacher.check()
    cacher.save({"a": 1})
    assert cacher.check() and not (tmp_path / "manual_metadata.json").exists()


# -- the planner on real files written by the eager engine ---------------------------------------
@dataclass
class XParams(cf.ExperimentParameters):
    x: int = 0


@cf.stage(outputs=["data"], cachers=[PickleCacher])
def p_make(record):
    return [record.params.x]


@cf.stage(
    inputs=["data"],
    outputs=["n", "model.pkl", "side"],
    cachers=[JsonCacher, PickleCacher, JsonCacher(path_override="{cache}/custom_{hash}_side")],
)
def p_count(record, data):
    record.report(JsonReporter({"n": 1}, name="n"))
    return len(data), {"n": 1}, [1]


@cf.aggregate(inputs=["n"], outputs=["total"], cachers=[JsonCacher(name="sum.json")])
def p_total(record, records, n):
    return sum(n.values())


def p_run(param_sets, manager):
    for p in param_sets:
        p_count(p_make(cf.Record(manager, p)))
    p_total(cf.Record(manager, None))


def test_plan_finds_the_metadata_of_every_kind_of_output_in_one_listing(tmp_path, monkeypatch):
    """Default names, a name ending in its extension, a path_override without one, an aggregate's
    own name: each output's metadata is where the eager engine (and a job) writes it."""
    sets = [XParams(name=f"s{i}", x=i) for i in range(2)]
    sg, _ = trace_graph(p_run, sets, tmp_path)
    p_run(sets, cf.ArtifactManager("t", cache_path=str(tmp_path / "cache")))

    listings = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: listings.append(p) or real_scandir(p))
    monkeypatch.setattr(os, "stat", lambda *a, **k: pytest.fail("CacheView must not stat files"))
    plans = planning.plan(sg)
    monkeypatch.undo()
    assert listings == [str(tmp_path / "cache")]  # one listing for every node of the folder
    assert {p.status for p in plans.values()} == {planning.Status.CACHED}

    metas = sorted(p for p in (tmp_path / "cache").iterdir() if p.name.endswith("_metadata.json"))
    outputs = [n for n in sg.nodes() if n.outputs]
    assert len(metas) == sum(len(n.outputs) for n in outputs) + len(sets)  # + reportables lists
    for meta in metas:
        if "reportables" in meta.name:
            continue
        saved = meta.read_bytes()
        meta.unlink()
        plans = planning.plan(sg)
        (hit,) = [p for p in plans.values() if p.reason == planning.Reason.INCOMPLETE]
        node = sg.node(hit.node)
        assert len(hit.unfinished) == 1 and hit.unfinished[0] in node.targets(), meta.name
        meta.write_bytes(saved)
    assert {p.status for p in planning.plan(sg).values()} == {planning.Status.CACHED}
