"""backends/slurm/packing: the arrays a site accepts, cut from a traced sweep.

Every packing is checked for what a submission needs: each node to run is in exactly one
task, no array holds more than MaxArraySize tasks, all tasks and the retry job fit the room
the submit limits leave, and each array waits on the arrays that hold its inputs.
"""

from __future__ import annotations

import pytest

from cfcompile.backends.slurm.limits import Limit, SiteLimits
from cfcompile.backends.slurm.packing import pack, snakemake_batch
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.compiler.plan import plan
from cfcompile.errors import CfcompileError

from ...traced_chains import graph_of
from .traced_sweep import STRICT, traced


def check(sg, plans, packing, limits):
    """What every submission must hold, whatever the packing chose."""
    seen = [nid for r in packing.requests for task in r.tasks for nid in task]
    assert sorted(seen) == sorted(nid for nid, p in plans.items() if p.status.value == "run")
    assert all(len(r.tasks) <= limits.max_tasks_per_array for r in packing.requests)
    room = limits.room()[0]
    if room is not None:
        assert packing.tasks + packing.retry_job <= room
    holder = {nid: r.index for r in packing.requests for task in r.tasks for nid in task}
    for r in packing.requests:
        for nid in (n for task in r.tasks for n in task):
            for up in sg.graph.predecessors(nid):
                if holder[up] != r.index:
                    assert holder[up] in r.after_ok + r.after_corr, (nid, up)


def test_batch_1_on_a_strict_site_packs_more_and_says_which_limit(tmp_path):
    sg, plans = traced(tmp_path, 500)
    packing = pack(sg, plans, SiteSettings(), STRICT, 1)
    check(sg, plans, packing, STRICT)
    assert packing.chains_per_task > 1
    said = " ".join(packing.why)
    assert "MaxSubmitJobs of association root/root is 120 with 0 queued" in said
    assert f"{packing.chains_per_task} chains per task instead of 1" in said


def test_without_a_submit_limit_arrays_are_cut_at_max_array_size(tmp_path):
    sg, plans = traced(tmp_path, 120)
    limits = SiteLimits(50)
    packing = pack(sg, plans, SiteSettings(), limits, 1)
    check(sg, plans, packing, limits)
    sizes = [len(r.tasks) for r in packing.requests if r.kind == "chains" and r.level == 0]
    assert sizes == [50, 50, 20]
    assert any("MaxArraySize 50: arrays are cut at 50 tasks" in w for w in packing.why)


def test_a_stage_after_an_aggregate_waits_per_task_on_its_own_chains(tmp_path):
    sg, plans = traced(tmp_path, 120)
    packing = pack(sg, plans, SiteSettings(), SiteLimits(50), 3)
    check(sg, plans, packing, SiteLimits(50))
    first = [r for r in packing.requests if r.level == 0]
    (agg,) = [r for r in packing.requests if r.kind == "aggregates"]
    last = [r for r in packing.requests if r.level == 2]
    assert len(last) == len(first)  # one to one, cut alike
    for up, down in zip(first, last, strict=True):
        assert down.after_corr == [up.index] and down.after_ok == [agg.index]
        for t_up, t_down in zip(up.tasks, down.tasks, strict=True):
            assert [n[1] for n in t_up if n[0] == "prep"] == [n[1] for n in t_down]


def test_a_sweep_that_cannot_fit_names_the_limit_and_what_to_do(tmp_path):
    sg, plans = traced(tmp_path, 10)
    tight = SiteLimits(50, [Limit("MaxSubmitJobsPerUser of QOS normal", 40, 38)])
    with pytest.raises(CfcompileError) as err:
        pack(sg, plans, SiteSettings(), tight, 1)
    text = str(err.value)
    assert "MaxSubmitJobsPerUser of QOS normal is 40 with 38 already queued: room for 2" in text
    assert "squeue --me" in text and "--indices" in text


def test_the_first_submission_assumes_a_stated_time_and_the_task_limit_covers_its_chains(
    tmp_path,
):
    sg, plans = traced(tmp_path, 30)
    settings = SiteSettings(target_task_minutes=10, first_stage_seconds=60)
    packing = pack(sg, plans, settings, SiteLimits(), "auto")
    # nothing ran yet: 60 s assumed a stage (score's declared 30 min is a limit, not an
    # estimate); chains of 3 stages and of 1 (rank) average 2 min, so 5 make a 10-min task
    assert packing.chains_per_task == 5
    assert "60 s assumed each, first_stage_seconds" in packing.why[0]
    (first,) = [r for r in packing.requests if r.level == 0]
    # a chain may take 3 + 3 min (prep, fit: SAFETY x the guess) + 30 (score's limit);
    # the task's limit covers its 5 chains and the start-up
    assert first.time_min == 5 * (3 + 3 + 30) + 2


def test_a_partitions_max_time_bounds_the_chains_per_task(tmp_path):
    sg, plans = traced(tmp_path, 30)
    limits = SiteLimits(max_time_min={"short": 120}, default_partition="short")
    packing = pack(sg, plans, SiteSettings(), limits, 10)
    assert packing.chains_per_task == 3  # (120 - 2) // 36 minutes a chain
    assert any("MaxTime 120 min of short: at most 3 chain(s)" in w for w in packing.why)
    assert all(r.time_min <= 120 for r in packing.requests)
    with pytest.raises(CfcompileError, match="more than MaxTime 20 min of tiny allows"):
        pack(sg, plans, SiteSettings(partition="tiny"), SiteLimits(max_time_min={"tiny": 20}))


def test_max_running_throttles_the_arrays_of_a_level_together(tmp_path):
    sg, plans = traced(tmp_path, 120)
    packing = pack(sg, plans, SiteSettings(max_running=10), SiteLimits(50), 1)
    level0 = [r for r in packing.requests if r.level == 0]
    assert len(level0) == 3 and {r.throttle for r in level0} == {3}


def test_the_snakemake_route_sizes_jobs_for_the_cluster_not_the_login_node(tmp_path):
    sg, _ = traced(tmp_path, 300)
    choice = snakemake_batch(sg, SiteSettings(target_task_minutes=6), "auto")
    assert choice.k == 2  # 3 stages never run: 180 s a chain, 6 minutes a job
    assert "target_task_minutes 6" in choice.why


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
