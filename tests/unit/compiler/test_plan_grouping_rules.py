"""Rules that have one owner: unit resources, grouping, plan, workdir files (unit tests), and
the four places where copies of a rule once disagreed (through the real CLI)."""

from __future__ import annotations

import json
import os

import pytest
from helpers import CHAIN, run_cli, trace_graph

import cfcompile as cf
from cfcompile.backends.slurm.limits import SiteLimits
from cfcompile.backends.slurm.packing import pack
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.caching import JsonCacher
from cfcompile.compiler.grouping import batch_units, batchable_stages, choose_batch
from cfcompile.compiler.plan import Reason, Status, plan
from cfcompile.core.ir import InputRef, Node, unit_resources
from cfcompile.core.workdir import (
    NodeStore,
    WorkflowInfo,
    clear_failure,
    failure_label,
    load_failure,
    log_path,
    record_failure,
)


def node(stage: str, h: str, **kw) -> Node:
    return Node(stage, h, "stage", "m:f", h, h, [], [], None, **kw)


# -- ir: the unit resource rule ----------------------------------------------------------------
def test_unit_resources_sum_runtime_and_take_the_largest_of_the_rest():
    nodes = [
        node("a", "1", resources={"runtime": 30, "mem_mb": 500}),
        node("b", "1", resources={"runtime": 20, "mem_mb": 2000, "gpu": 1}),
        node("c", "1", timeout=600),  # no runtime: the timeout bounds it (11 minutes)
    ]
    assert unit_resources(nodes) == {"runtime": 61, "mem_mb": 2000, "gpu": 1}
    assert unit_resources([node("a", "1")]) == {}


def test_timeout_gives_a_runtime_with_a_minute_to_spare():
    assert node("a", "1", timeout=600).runtime_minutes() == 11
    assert node("a", "1", timeout=61).runtime_minutes() == 3
    assert node("a", "1", timeout=600, resources={"runtime": 5}).runtime_minutes() == 5
    assert node("a", "1").runtime_minutes() is None


def test_node_row_round_trips_typed():
    n = node("a", "ab", resources={"mem_mb": 1}, force=True, order=4)
    n.inputs = [InputRef("x", "artifact", "/p", node=("z", "ab"), output="x", record=0)]
    back = Node.from_row(n.to_row())
    assert back == n and back.inputs[0].node == ("z", "ab")


# -- grouping ----------------------------------------------------------------------------------
@cf.stage(outputs=["a"], cachers=[JsonCacher], resources={"runtime": 30})
def ga(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher])
def gb(record, a):
    return 1


@cf.aggregate(inputs=["b"], outputs=["m"], cachers=[JsonCacher])
def gm(record, records, b):
    return 1


def graph_of(tmp_path, count: int):
    def run(sets, manager):
        for p in sets:
            gb(ga(cf.Record(manager, p)))
        gm(cf.Record(manager, None))

    sets = [cf.ExperimentParameters(name=f"p{i}") for i in range(count)]
    for i, p in enumerate(sets):
        p.hash = f"{i + 1:x}"
    return trace_graph(run, sets, tmp_path)[0]


def test_batch_units_hold_k_chains_and_leave_aggregates_alone(tmp_path):
    sg = graph_of(tmp_path, 5)
    assert batchable_stages(sg) == {"ga", "gb"}
    units = batch_units(sg, 2)
    assert [len(m) for m in units.values()] == [4, 4, 2]
    assert all(n.stage != "gm" for m in units.values() for n in m)
    assert batch_units(sg, 0) == {}
    # never run: packed by the balance rule (5 chains, 2 cores, 2 units a core: 2 a unit)
    assert choose_batch(sg, "auto", cores=2).k == 2
    assert choose_batch(sg, "auto", cores=3).k == 1
    assert choose_batch(sg, "1").k == 0 and choose_batch(sg, 3).k == 3


def test_automatic_units_hold_the_chains_evenly(tmp_path):
    """25 chains at K = 4: seven units of 4 or 3 chains, not six of 4 and a last one of 1
    (that last unit, and the cores idle behind the longest, is where the ideal is lost)."""
    sg = graph_of(tmp_path, 25)
    choice = choose_batch(sg, "auto", cores=3)  # 25 chains, 6 units at least: K = 5
    assert (choice.k, choice.even) == (5, True)
    even = batch_units(sg, 4, even=True)
    assert [len(m) // 2 for m in even.values()] == [4, 4, 4, 4, 3, 3, 3]
    assert [len(m) // 2 for m in batch_units(sg, 4).values()] == [4, 4, 4, 4, 4, 4, 1]
    members = [n.id for m in even.values() for n in m]
    assert len(members) == len(set(members)) == 50  # every chain's two nodes, once
    # dealt in turn, not cut in runs: a cost that grows along the sets is spread over units
    first = sorted({n.hash for n in even["0"]}, key=lambda h: int(h, 16))
    assert first == ["1", "8", "f", "16"]
    assert not choose_batch(sg, 4).even  # an explicit --batch K is K per unit


def test_arrays_put_k_chains_in_a_task_with_summed_runtime(tmp_path):
    sg = graph_of(tmp_path, 5)
    one = pack(sg, plan(sg), SiteSettings(), SiteLimits(), 1).requests
    assert [(a.kind, len(a.tasks)) for a in one] == [("chains", 5), ("aggregates", 1)]
    # ga declares 30 min; gb never ran and declares nothing: a guess is no limit, so the
    # profile's runtime (60) is the floor of a task holding it
    assert one[0].time_min == 60
    four = pack(sg, plan(sg), SiteSettings(), SiteLimits(), 4).requests
    assert [(a.kind, len(a.tasks)) for a in four] == [("chains", 2), ("aggregates", 1)]
    # 4 chains one after another: 30 min + 3 (gb: 3 x first_stage_seconds) each, + start-up
    assert four[0].time_min == 4 * (30 + 3) + 2
    assert four[1].after_ok == [0]


# -- plan ----------------------------------------------------------------------------------------
def test_plan_reasons_from_the_cache(tmp_path):
    sg = graph_of(tmp_path, 2)
    first = plan(sg)
    assert {p.reason for p in first.values()} == {Reason.MISSING, Reason.UPSTREAM}
    for n in sg.nodes():  # everything cached (an output counts with its metadata) ...
        for t in n.targets():
            open(t, "w").close()
            open(t.removesuffix(".json") + "_metadata.json", "w").close()
    assert all(p.status != Status.RUN for p in plan(sg).values())
    a0 = next(n for n in sg.nodes() if n.stage == "ga")
    os.remove(a0.targets()[0])
    staging = os.path.join(os.path.dirname(a0.targets()[0]), ".cfcompile-tmp-x")
    os.makedirs(staging)
    open(os.path.join(staging, os.path.basename(a0.targets()[0])), "w").close()
    again = plan(sg)
    assert again[a0.id].reason == Reason.INCOMPLETE
    assert again[("gb", a0.hash)].reason == Reason.UPSTREAM and again[("gm", sg.nodes()[-1].hash)]
    a0.force = True
    assert plan(sg)[a0.id].reason == Reason.OVERWRITE


# -- workdir -------------------------------------------------------------------------------------
def test_node_store_and_workflow_info_round_trip(tmp_path):
    sg = graph_of(tmp_path, 3)
    units = batch_units(sg, 2)
    os.makedirs(sg.info.workdir)
    NodeStore.write(sg.info.workdir, sg.nodes(), sg.params, units)
    sg.info.save(sg.info.workdir)
    store = NodeStore(sg.info.workdir)
    assert store.nodes() == sg.nodes()
    assert store.members("0") == [n.id for n in units["0"]]
    assert store.members("nope") is None and store.node(("x", "y")) is None
    assert store.unit_of()[units["1"][0].id] == "1"
    assert WorkflowInfo.load(sg.info.workdir) == sg.info


def test_failure_records_and_log_paths(tmp_path):
    wd = str(tmp_path)
    nid = ("train", "abc")
    assert load_failure(wd, nid) is None and failure_label(None) is None
    record_failure(wd, nid, ValueError("bad value"), 0.0, timed_out=False)
    assert failure_label(load_failure(wd, nid)) == "failed"
    assert load_failure(wd, nid)["message"] == "ValueError: bad value"
    record_failure(wd, nid, RuntimeError("slow"), 0.0, timed_out=True)
    assert failure_label(load_failure(wd, nid)) == "timed out"
    clear_failure(wd, nid)
    assert load_failure(wd, nid) is None
    assert log_path(wd, nid, None) == os.path.join(wd, "logs", "train", "abc.log")
    assert log_path(wd, nid, "3") == os.path.join(wd, "logs", "batches", "3.log")


# -- the four disagreements, through the real CLI ------------------------------------------------
RUNTIME = {
    **CHAIN,
    "experiments/chain.py": CHAIN["experiments/chain.py"].replace(
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher])',
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher], '
        'resources={"runtime": 30})',
    ),
    "params/many.py": (
        "from params import Params\n\n"
        "def get_params():\n    return [Params(name=f'm{i}', x=i) for i in range(8)]\n"
    ),
}


def test_batch_rule_runtime_is_the_sum_of_its_chains(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(RUNTIME)
    snakefile = run_cli("chain", "-p", "many", "--batch", "4", cwd=root).stdout
    rule = snakefile[snakefile.index("rule cfcompile_batch:") :].split("\nrule ")[0]
    assert "runtime=lambda wildcards, attempt: 120 * attempt" in rule, rule


def test_submit_local_honours_batch(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(RUNTIME)
    out = run_cli("chain", "-p", "many", "--submit", "local", "--batch", "4", cwd=root).stdout
    chains = next(ln for ln in out.splitlines() if "chains" in ln)
    assert "2 task(s), 16 node(s)" in chains, out
    assert (tmp_path / "log").read_text().count("second") == 8
    status = run_cli("chain", "-p", "many", "--status", cwd=root).stdout
    assert "last run: cfcompile chain -p many --submit local --batch 4 (started " in status
    assert status.rstrip().endswith("succeeded)")


def test_dry_run_counts_a_timeout_only_stage_in_core_hours(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    files = dict(CHAIN)
    files["experiments/chain.py"] = CHAIN["experiments/chain.py"].replace(
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher])',
        '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher], timeout=600)',
    )
    root = project(files)
    summary = json.loads(run_cli("chain", "-p", "few", "--dry-run", "--json", cwd=root).stdout)
    assert summary["stages"]["second"]["core_hours"] == pytest.approx(3 * 11 / 60, abs=1e-3)
    assert summary["totals"]["nodes_without_declared_runtime"] == 4  # first x3 + total
    snakefile = run_cli("chain", "-p", "few", "--batch", "1", cwd=root).stdout
    rule = snakefile[snakefile.index("rule second:") :].split("\nrule ")[0]
    # the same 11 minutes reach the scheduler (doubled for a retried attempt)
    assert "runtime=lambda wildcards, attempt: 11 * attempt" in rule


def test_status_points_batched_nodes_at_their_unit_log(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    files = dict(CHAIN)
    files["experiments/chain.py"] = CHAIN["experiments/chain.py"].replace(
        '_log(f"second {record.params.name}")',
        '_log(f"second {record.params.name}")\n    assert record.params.x != 1, "boom"',
    )
    root = project(files)
    snakefile = run_cli("chain", "-p", "few", "--batch", "2", cwd=root).stdout
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", "/dev/stdin", "--cores", "2", "-k"],
        input=snakefile,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    status = run_cli("chain", "-p", "few", "--status", cwd=root, check=False).stdout
    line = next(ln for ln in status.splitlines() if ln.split()[:2] == ["second", "s1"])
    log = line.split()[-1]
    assert "failed" in line and log.endswith(os.path.join("logs", "batches", "0.log")), status
    assert "boom" in open(log).read()
