"""The compiled workflow folder (``core.workdir``): the node store, the workflow info, failure
records and log paths."""

from __future__ import annotations

import os

from cfcompile.compiler.grouping import batch_units
from cfcompile.core.workdir import (
    NodeStore,
    WorkflowInfo,
    clear_failure,
    failure_label,
    load_failure,
    log_path,
    record_failure,
)

from ..traced_chains import graph_of


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
