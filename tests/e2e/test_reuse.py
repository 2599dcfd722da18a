"""Reuse across parameter sets (``@stage(uses=[...])``), run the way a researcher runs it.

The project is portable (curifactory's names, cfcompile-only keywords behind ``ON_CFCOMPILE``),
so curifactory 0.20.5 itself can check that every set's cache files are there afterwards. Each
stage body appends a line to ``calls.log``: the log is what counts computations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import pipe, run_cli, write_project

SPACE = """
from dataclasses import dataclass

import curifactory as cf


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 0
    lr: float = 1.0
    scale: int = 1
"""

# The parameter class lives in a module of its own, as curifactory's params/__init__.py
# convention has it: a reuse class holds the class's module source, so sets added to the file
# that defines the class would start new classes (docs/semantics.md).
PARAMS = """
from params.space import P


def get_params():
    sets = [P(name=f"lr{lr}_s{s}", lr=lr, seed=s) for lr in (1, 2) for s in (1, 2)]
    sets.append(P(name="big_s1", lr=1, seed=1, scale=2))
    sets += [P(name=n, lr=lr, seed=1) for n, lr in EXTRA]
    return sets


EXTRA = []
"""

EXPERIMENT = """
import os

import curifactory as cf
from curifactory.caching import JsonCacher

ON_CFCOMPILE = cf.__name__ == "cfcompile"
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "calls.log")


def uses(*fields):
    return {"uses": list(fields)} if ON_CFCOMPILE else {}


def note(text):
    with open(LOG, "a") as f:
        f.write(text + "\\n")


@cf.stage(outputs=["data"], cachers=[JsonCacher], **uses("seed", "scale"))
def prep(record):
    p = record.params
    note(f"prep {p.seed} {p.scale}")
    return [p.seed * p.scale * i for i in range(5)]


@cf.stage(inputs=["data"], outputs=["feats"], cachers=[JsonCacher], **uses("scale"))
def feats(record, data):
    note(f"feats {record.params.scale} {data[1]}")
    return [x + record.params.scale for x in data]


@cf.stage(inputs=["feats"], outputs=["score"], cachers=[JsonCacher])
def fit(record, feats):
    note("fit")
    return sum(feats) * record.params.lr


def run(param_sets, manager):
    for p in param_sets:
        fit(feats(prep(cf.Record(manager, p))))
"""


def make(root: Path) -> Path:
    return write_project(
        root,
        {
            "params/space.py": SPACE,
            "params/sweep.py": PARAMS,
            "experiments/sweep.py": EXPERIMENT,
            "curifactory_config.json": json.dumps({"cache_path": "data/cache/"}),
        },
    )


def calls(root: Path) -> list[str]:
    path = root / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def cache_values(root: Path) -> dict[str, object]:
    """Every output file's value by name (hash, stage and artifact: the set's own names)."""
    cache = root / "data" / "cache"
    return {
        p.name: json.loads(p.read_text())
        for p in cache.glob("*.json")
        if not p.name.endswith("_metadata.json")
    }


def metadata(root: Path, stage: str) -> dict[str, dict]:
    out = {}
    for p in (root / "data" / "cache").glob(f"*_{stage}_*_metadata.json"):
        data = json.loads(p.read_text())
        out[data["params_name"]] = data
    return out


def meta_hash(root: Path, name: str) -> str:
    return metadata(root, "prep")[name]["params_hash"]


def computed_and_copy(meta: dict, a: str, b: str) -> tuple[str, str]:
    """Of two sets in one reuse class, (the one that computed, the one that copied it)."""
    copies = [n for n in (a, b) if "reused_from" in meta[n]]
    assert len(copies) == 1, {n: meta[n].get("reused_from") for n in (a, b)}
    copy = copies[0]
    return (b if copy == a else a), copy


def readme_pipe(root: Path, *extra: str):
    proc = pipe(root, "sweep", "-p", "sweep", *extra, cores="2", snakemake_args=("-k",))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_sets_that_agree_on_what_a_stage_uses_compute_it_once(tmp_path):
    root = make(tmp_path / "reuse")
    dry = run_cli("sweep", "-p", "sweep", "--dry-run", cwd=root).stdout
    assert "prep [lr2_s1]: reuses lr1_s1 (reads scale, seed)" in dry
    assert "prep [big_s1]" not in dry  # scale differs: its own class
    assert "feats [lr2_s2]: reuses lr1_s2 (reads scale)" in dry
    readme_pipe(root)
    log = calls(root)
    # 3 classes of prep (seed 1/2 at scale 1, seed 1 at scale 2), and of feats: same scale but
    # different inputs (lr1_s1 vs lr1_s2) are never merged; fit declares nothing: 5 runs
    assert sorted(x for x in log if x.startswith("prep")) == ["prep 1 1", "prep 1 2", "prep 2 1"]
    assert len([x for x in log if x.startswith("feats")]) == 3
    assert log.count("fit") == 5
    meta = metadata(root, "prep")
    # one of the class computes, the other copies: which one is the scheduler's choice (two
    # cores), the dry run names the first in order
    first, copy = computed_and_copy(meta, "lr1_s1", "lr2_s1")
    assert meta[copy]["reused_from"]["params_name"] == first
    assert meta["lr2_s1"]["params_read"]["fields"] == ["scale", "seed"]
    assert meta["lr2_s1"]["params_hash"] != meta["lr1_s1"]["params_hash"]  # its own set
    # copies, never links: each set's file is its own (curifactory rewrites files in place)
    files = sorted((root / "data" / "cache").glob("*_prep_data.json"))
    assert len({f.stat().st_ino for f in files}) == 5 and all(f.stat().st_nlink == 1 for f in files)
    status = run_cli("sweep", "-p", "sweep", "--status", cwd=root).stdout
    assert (
        "reused: 4 done node(s) hold a copy of an equivalent set's outputs (prep 2, feats 2)"
        in status
    )
    page = Path(run_cli("sweep", "-p", "sweep", "--report", cwd=root).stdout.strip()).read_text()
    copied = [
        meta_of["reused_from"]["params_name"]
        for stage in ("prep", "feats")
        for meta_of in metadata(root, stage).values()
        if "reused_from" in meta_of
    ]
    assert len(copied) == 4  # prep and feats of one set in each class
    for name in set(copied):
        assert page.count(f"a copy of {name}&#39;s: reuse") == copied.count(name)
    # learned read sets are recorded for every stage, declared or not
    assert metadata(root, "fit")["lr2_s1"]["params_read"]["fields"] == ["lr"]

    # the same values as computing every node (--no-reuse, a fresh copy of the project)
    plain = make(tmp_path / "plain")
    readme_pipe(plain, "--no-reuse")
    assert len([x for x in calls(plain) if x.startswith("prep")]) == 5
    assert cache_values(root) == cache_values(plain)
    assert len(cache_values(root)) == 15  # every set has each of its own cache files

    # the eager route follows the same rule
    eager = make(tmp_path / "eager")
    run_cli("sweep", "-p", "sweep", "--eager", cwd=eager)
    assert sorted(calls(eager)) == sorted(log)
    assert cache_values(eager) == cache_values(root)

    # curifactory 0.20.5 finds every set's files: it computes nothing
    before = len(calls(root))
    experiment = Path(sys.executable).parent / "experiment"
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [str(experiment), "sweep", "-p", "sweep"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(calls(root)) == before, calls(root)[before:]


def test_a_new_set_copies_what_it_shares_and_edited_code_computes_again(tmp_path):
    root = make(tmp_path / "extend")
    readme_pipe(root)
    params = root / "params" / "sweep.py"
    params.write_text(params.read_text().replace("EXTRA = []", "EXTRA = [('lr3_s1', 3)]"))
    dry = run_cli("sweep", "-p", "sweep", "--dry-run", cwd=root).stdout
    # the set that computed prep's class in the first run is the one the new set copies
    first, _ = computed_and_copy(metadata(root, "prep"), "lr1_s1", "lr2_s1")
    assert f"prep [lr3_s1]: reuses {first} (reads scale, seed)" in dry
    before = len(calls(root))
    readme_pipe(root)
    assert calls(root)[before:] == ["fit"]  # only the new work: its fit
    feats_first, _ = computed_and_copy(metadata(root, "feats"), "lr1_s1", "lr2_s1")
    assert metadata(root, "feats")["lr3_s1"]["reused_from"]["params_name"] == feats_first

    # an overwrite of one set computes its own, and leaves the others' files alone
    source = next((root / "data" / "cache").glob(f"*{meta_hash(root, 'lr1_s1')}_prep_data.json"))
    stamp = source.stat().st_mtime_ns
    before = len(calls(root))
    readme_pipe(root, "--names", "lr2_s1", "--overwrite")
    assert calls(root)[before:].count("prep 1 1") == 1
    assert source.stat().st_mtime_ns == stamp
    assert "reused_from" not in metadata(root, "prep")["lr2_s1"]

    # an edited stage is another class: the next new set computes it
    exp = root / "experiments" / "sweep.py"
    exp.write_text(
        exp.read_text().replace("return [p.seed * p.scale", "return [0 + p.seed * p.scale")
    )
    params.write_text(params.read_text().replace("('lr3_s1', 3)]", "('lr3_s1', 3), ('lr4_s1', 4)]"))
    before = len(calls(root))
    readme_pipe(root)
    assert sorted(calls(root)[before:]) == ["feats 1 1", "fit", "prep 1 1"]


def test_an_undeclared_read_fails_naming_the_stage_the_field_and_the_fix(project):
    root = project(
        {
            "params/p.py": """
                from dataclasses import dataclass
                import cfcompile as cf

                @dataclass
                class P(cf.ExperimentParameters):
                    seed: int = 0
                    lr: float = 1.0

                def get_params():
                    return [P(name="a", seed=1), P(name="b", seed=1, lr=2.0)]
            """,
            "experiments/e.py": """
                import dataclasses
                import cfcompile as cf
                from cfcompile.caching import JsonCacher

                @cf.stage(outputs=["x"], cachers=[JsonCacher], uses=["seed"])
                def liar(record):
                    return record.params.seed * record.params.lr

                @cf.stage(outputs=["y"], cachers=[JsonCacher], uses=["seed"])
                def whole(record):
                    return len(dataclasses.asdict(record.params))

                def run(param_sets, manager):
                    for p in param_sets:
                        whole(liar(cf.Record(manager, p)))
            """,
        }
    )
    proc = run_cli("e", "-p", "p", "--eager", cwd=root, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "stage 'liar' [a] read record.params.lr" in text
    assert "add 'lr' to uses=[...]" in text
    assert not list((root / "data" / "cache").glob("*liar*"))  # nothing half-written
    proc = pipe(root, "e", "-p", "p", cores="1", snakemake_args=("-k", "--logger", "cfcompile"))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "stage 'liar' [b] read record.params.lr" in text
    assert "stage 'whole' [a] used the whole parameter object (dataclasses read" in text
    assert not list((root / "data" / "cache").glob("*liar*"))


LEARNED = """
import dataclasses
import os

import cfcompile as cf
from cfcompile.caching import JsonCacher

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "calls.log")


def note(text):
    with open(LOG, "a") as f:
        f.write(text + "\\n")


@cf.stage(outputs=["data"], cachers=[JsonCacher])
def prep(record):
    note(f"prep {record.params.seed}")
    return [record.params.seed * i for i in range(5)]


@cf.stage(inputs=["data"], outputs=["score"], cachers=[JsonCacher])
def fit(record, data):
    note("fit")
    return sum(data) * record.params.lr


@cf.stage(outputs=["everything"], cachers=[JsonCacher])
def dump(record):
    note("dump")
    return len(dataclasses.asdict(record.params))


def run(param_sets, manager):
    for p in param_sets:
        r = cf.Record(manager, p)
        fit(prep(r))
        dump(r)
"""

LEARNED_SPACE = """
from dataclasses import dataclass

import cfcompile as cf


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 0
    lr: float = 1.0
"""

LEARNED_PARAMS = """
from params.space import P


def get_params():
    return [P(name=f"lr{lr}_s{s}", lr=lr, seed=s) for lr in LRS for s in (1, 2)]


LRS = (1, 2)
"""


def test_learned_read_sets_merge_only_with_reuse_and_never_after_a_whole_use(project, tmp_path):
    files = {
        "params/space.py": LEARNED_SPACE,
        "params/p.py": LEARNED_PARAMS,
        "experiments/e.py": LEARNED,
    }
    root = project(files)
    # without --reuse a learned read set is only recorded: every node computes
    readme = ("e", "-p", "p")
    proc = pipe(root, *readme, cores="1", snakemake_args=("-k",))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert calls(root).count("prep 1") == 2 and calls(root).count("dump") == 4
    assert not (root / "data" / "cache" / ".cfcompile-reuse").exists()  # a plain run adds none
    # more sets, with --reuse: the new ones compute and record what they read
    params = root / "params" / "p.py"
    params.write_text(params.read_text().replace("LRS = (1, 2)", "LRS = (1, 2, 3)"))
    proc = pipe(root, *readme, "--reuse", cores="1", snakemake_args=("-k",))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and more: prep copies the node that read seed=1 / seed=2; dump never merges
    params.write_text(params.read_text().replace("LRS = (1, 2, 3)", "LRS = (1, 2, 3, 4)"))
    dry = run_cli(*readme, "--reuse", "--dry-run", cwd=root).stdout
    assert "prep [lr4_s1]: reuses lr3_s1 (reads seed)" in dry
    assert "dump: never merged: dataclasses read record.params, at " in dry
    assert "experiments/e.py:" in dry  # the line that used the whole object
    before = len(calls(root))
    proc = pipe(root, *readme, "--reuse", cores="1", snakemake_args=("-k",))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(calls(root)[before:]) == ["dump", "dump", "fit", "fit"]
    meta = {
        json.loads(p.read_text())["params_name"]: json.loads(p.read_text())
        for p in (root / "data" / "cache").glob("*_prep_data_metadata.json")
    }
    assert meta["lr4_s2"]["reused_from"]["params_name"] == "lr3_s2"
    # a cold eager run with --reuse merges as soon as the first node of a class has finished
    eager = write_project(tmp_path / "eager", {**files, "params/p.py": params.read_text()})
    run_cli(*readme, "--reuse", "--eager", cwd=eager)
    assert sorted(x for x in calls(eager) if x.startswith("prep")) == ["prep 1", "prep 2"]
    assert cache_values(eager) == cache_values(root)
