"""What ``--dry-run`` says will be copied instead of computed (``compiler.reuse_plan``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from helpers import trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.compiler.plan import plan
from cfcompile.compiler.reuse_plan import reuse_plan
from cfcompile.core import reuse, reuse_store


@dataclass
class P(cf.ExperimentParameters):
    seed: int = 1
    lr: float = 0.1


@cf.stage(outputs=["d"], cachers=[JsonCacher], uses=["seed"])
def rp_prep(record):
    return record.params.seed


@cf.stage(inputs=["d"], outputs=["m"], cachers=[JsonCacher])
def rp_fit(record, d):
    return d * record.params.lr


def graph(tmp_path, sets):
    def run(param_sets, manager):
        for p in param_sets:
            rp_fit(rp_prep(cf.Record(manager, p)))

    for i, p in enumerate(sets):
        p.hash = f"{i + 1:x}"
    return trace_graph(run, sets, tmp_path)[0]


def test_the_first_of_a_class_computes_and_the_others_name_it(tmp_path):
    sets = [P(name="a", seed=1, lr=1), P(name="b", seed=1, lr=2), P(name="c", seed=2)]
    sg = graph(tmp_path, sets)
    found = reuse_plan(sg, plan(sg))
    assert {nid: (r.source, r.reads) for nid, r in found.nodes.items()} == {
        ("rp_prep", "2"): ("a", ["seed"])  # c's seed differs; rp_fit declares nothing
    }
    sg.info.reuse = False  # --no-reuse
    assert reuse_plan(sg, plan(sg)).nodes == {}


def test_an_earlier_run_is_found_through_the_index_with_its_time(tmp_path):
    sets = [P(name="a", seed=1), P(name="b", seed=1)]
    sg = graph(tmp_path, sets)
    a = sg.node(("rp_prep", "1"))
    path = a.outputs[0]["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("1")
    code = rp_prep.spec.identity
    key = reuse.decide(rp_prep.spec, sets[0], {}, reuse.Settings()).key
    meta = os.path.splitext(path)[0] + "_metadata.json"
    with open(meta, "w") as f:
        written = {"params_hash": "1", "code_identity": code, "reuse_class": key}
        json.dump({"timing": {"seconds": 2.5}, **written}, f)
    os.makedirs(os.path.join(sg.info.cache_path, reuse_store.INDEX_DIR), exist_ok=True)
    rel = [os.path.relpath(p, sg.info.cache_path) for p in (path, meta)]
    entry = {"files": rel[:1], "metas": rel[1:], "code": code, "params_hash": "1", "class": key}
    with open(reuse_store.index_path(sg.info.cache_path, key), "w") as f:
        json.dump({**entry, "params_name": "a"}, f)
    plans = plan(sg)
    found = reuse_plan(sg, plans)
    assert list(found.nodes) == [("rp_prep", "2")]  # a is cached: only b runs, and copies
    assert found.seconds_saved == 2.5
    os.remove(path)  # an entry whose files are gone is ignored: a computes again, b copies
    again = reuse_plan(sg, plan(sg))
    assert list(again.nodes) == [("rp_prep", "2")] and again.seconds_saved == 0


def test_a_cached_source_written_by_other_code_is_no_source_and_no_class(tmp_path):
    """--dry-run checks what the run checks: an output of older code is not this class's."""
    sets = [P(name="a", seed=1), P(name="b", seed=1)]
    sg = graph(tmp_path, sets)
    a = sg.node(("rp_prep", "1"))
    path = a.outputs[0]["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("1")
    meta = os.path.splitext(path)[0] + "_metadata.json"
    with open(meta, "w") as f:
        json.dump({"params_hash": "1", "code_identity": "older code"}, f)
    key = reuse.decide(rp_prep.spec, sets[0], {}, reuse.Settings()).key
    rel = [os.path.relpath(p, sg.info.cache_path) for p in (path, meta)]
    entry = {"files": rel[:1], "metas": rel[1:], "code": "older code", "params_hash": "1"}
    os.makedirs(os.path.join(sg.info.cache_path, reuse_store.INDEX_DIR), exist_ok=True)
    with open(reuse_store.index_path(sg.info.cache_path, key), "w") as f:
        json.dump({**entry, "params_name": "a"}, f)
    assert reuse_plan(sg, plan(sg)).nodes == {}  # b computes: a's files are not this code's
