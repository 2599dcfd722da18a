"""views/: the critical path and estimate, the graph as data and as a picture, the dry-run
summary, and the report's analysis of a results table."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from helpers import workflow_info

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.compiler import graph
from cfcompile.compiler.plan import Status, plan
from cfcompile.compiler.trace import TraceEngine
from cfcompile.reporting import JsonReporter
from cfcompile.runtime.results_writer import METRIC, PARAM, Table
from cfcompile.views import critical_path, dag, dryrun, networks
from cfcompile.views.report import plots, reportable_render, results_part


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0
    seed: int = 0


@cf.stage(outputs=["data"], cachers=[JsonCacher])
def prepare(record):
    time.sleep(0.05 * record.params.x)
    return [record.params.x]


@cf.stage(inputs=["data"], outputs=["model"], cachers=[JsonCacher])
def fit(record, data):
    record.report(JsonReporter({"x": record.params.x}, name="fitted"))
    return data


@cf.stage(inputs=["data", "model"], outputs=["score"], cachers=[JsonCacher])
def score(record, data, model):
    return {"acc": record.params.x / 10}


def run(sets, manager):
    for p in sets:
        score(fit(prepare(cf.Record(manager, p))))


SETS = [P(name=f"x{x}_seed{s}", x=x, seed=s) for x in (1, 3) for s in (0, 1)]


@pytest.fixture
def traced(tmp_path):
    """The experiment run eagerly once (metadata with real timings), then traced."""
    run(SETS, cf.ArtifactManager("t", cache_path=str(tmp_path / "cache"), folders=False))

    def trace(overwrite: bool):
        engine = TraceEngine(str(tmp_path / "sources"))
        cache = str(tmp_path / "cache")
        m = cf.ArtifactManager("t", cache_path=cache, engine=engine, overwrite=overwrite)
        run([P(name=p.name, x=p.x, seed=p.seed) for p in SETS], m)
        return graph.build(engine.nodes, engine.params, engine.specs, workflow_info(tmp_path))

    return trace


def test_the_critical_path_follows_the_slowest_recorded_chain(traced):
    sg = traced(overwrite=True)
    plans = plan(sg)
    found = critical_path.estimate(sg, plans, cores=2)
    assert found.path == ["prepare", "fit", "score"]
    assert found.path_seconds >= 0.15  # the slowest prepare slept 0.15 s
    assert found.nodes == 12 and found.work_seconds >= 2 * (0.05 + 0.15)
    assert found.wall_seconds == max(found.work_seconds / 2, found.path_seconds)
    assert critical_path.estimate(sg, plan(traced(overwrite=False)), 2) is None  # all cached
    assert "critical path: prepare -> fit -> score" in critical_path.describe(found.as_dict())[0]


def test_the_stage_picture_leaves_out_implied_arrows_and_names_them(traced):
    sg = traced(overwrite=False)
    plans = plan(sg)
    g = networks.reduced(networks.stage_graph(sg, plans))
    assert sorted(g.edges) == [("fit", "score"), ("prepare", "fit")]
    assert g.graph["omitted"] == [("prepare", "score", "data")]
    text = dag.to_dot(sg, plans, "stages")
    assert "prepare -&gt; score: data" in text and "4 node(s): 4 cached, 0 to run" in text


def test_the_graph_exports_as_data(traced):
    sg = traced(overwrite=False)
    data = json.loads(networks.to_json(networks.node_graph(sg, plan(sg), set())))
    assert len(data["nodes"]) == 12 and len(data["edges"]) == 3 * 4  # 3 edges a set
    assert {n["state"] for n in data["nodes"]} == {"cached"}
    xml = networks.to_graphml(networks.stage_graph(sg, plan(sg)))
    assert xml.startswith("<?xml") and 'attr.name="artifacts"' in xml


def test_the_dry_run_summary_counts_and_explains(traced):
    sg = traced(overwrite=True)
    summary = dryrun.summarize(sg, plan(sg))
    assert summary["totals"]["run"] == 12 and summary["totals"]["cached"] == 0
    assert summary["stages"]["prepare"]["reasons"] == {"overwrite set": [p.name for p in SETS]}
    assert {n["reason"] for n in summary["nodes"]} == {"overwrite set"}


def test_a_node_finds_its_reportables_in_the_cache(traced):
    sg = traced(overwrite=False)
    node = next(n for n in sg.nodes() if n.stage == "fit")
    (path,) = reportable_render.reportable_paths(sg, node.id)
    assert path.endswith("_fitted.pkl")
    assert all(plan(sg)[n.id].status == Status.CACHED for n in sg.nodes())


def table(rows):
    kinds = {"name": "identity", "status": "identity", "acc": METRIC, "x": PARAM, "seed": PARAM}
    return Table([{k: r.get(k) for k in kinds} for r in rows], kinds)


def test_the_report_groups_repetitions_and_counts_statuses():
    t = table(
        [
            {"name": "x1_seed0", "status": "done", "acc": 0.1, "x": 1, "seed": 0},
            {"name": "x1_seed1", "status": "done", "acc": 0.3, "x": 1, "seed": 1},
            {"name": "x3_seed0", "status": "failed (fit)", "acc": None, "x": 3, "seed": 0},
        ]
    )
    varied, repeats, constant = plots.split_parameters(t)
    assert (varied, repeats, constant) == (["x"], ["seed"], {})
    configs = plots.configurations(t, repeats, ["acc"])
    assert [c.name for c in configs] == ["x1", "x3"]
    st = configs[0].stats["acc"]
    assert (round(st.mean, 6), round(st.std, 6), st.n) == (0.2, 0.1, 2)
    assert "acc" not in configs[1].stats
    assert (configs[1].finished, configs[1].failed, configs[1].counts(repeats)) == (
        0,
        1,
        "1 seed failed",
    )
    part = results_part.results_part(t)
    assert dict(part["counts"]) == {"done": 2, "failed": 1}
    assert results_part.results_part(None)["result_rows"] == []
