"""One compiled version written under the lock (``compiler.version``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from helpers import trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher
from cfcompile.compiler import version
from cfcompile.compiler.plan import Status, plan
from cfcompile.core.workdir import CURRENT, VERSIONS, current_version, done_path
from cfcompile.errors import CfcompileError


@cf.stage(outputs=["v"], cachers=[JsonCacher])
def value(record):
    return record.params.x


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


def run(sets, manager):
    for p in sets:
        value(cf.Record(manager, p))


def test_a_version_is_written_whole_markers_follow_the_plan_and_old_ones_are_pruned(tmp_path):
    sg, _ = trace_graph(run, [P(name=f"s{i}", x=i) for i in range(2)], tmp_path)
    plans = plan(sg)
    to_run = {nid for nid, p in plans.items() if p.status == Status.RUN}
    workdir = sg.info.workdir
    with version.compile_lock(workdir):
        first = version.write_workflow_files(sg.info, sg.nodes(), sg.params, {}, to_run, 0.0)
    assert current_version(workdir) == first and os.path.isfile(
        os.path.join(first, "workflow.json")
    )
    assert not any(os.path.exists(done_path(workdir, n)) for n in to_run)  # to run: no marker
    for i in range(version.KEEP_VERSIONS + 2):  # each a new digest: another subset of sets
        sg.info.subset = f"v{i}"
        version.write_workflow_files(sg.info, sg.nodes(), sg.params, {}, set(), 0.0)
    kept = os.listdir(os.path.join(workdir, VERSIONS))
    assert len(kept) == version.KEEP_VERSIONS
    assert open(os.path.join(workdir, CURRENT)).read() in kept
    assert all(os.path.exists(done_path(workdir, n.id)) for n in sg.nodes())  # cached: marked


def test_a_name_too_long_for_the_filesystem_is_refused(tmp_path):
    long = tmp_path / ("x" * 250 + ".json")
    with pytest.raises(CfcompileError, match="too long for the filesystem"):
        version.check_name_lengths([str(long)])
    version.check_name_lengths([str(tmp_path / "short.json")])
