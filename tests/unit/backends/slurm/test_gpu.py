"""backends/slurm/gpu: typed GPU requests, one CPU flag, GPU and CPU stages of a chain apart,
and the checks that keep a GPU type from becoming more than one sbatch word."""

from __future__ import annotations

import pytest
from helpers import trace_graph

import cfcompile as cf
from cfcompile.backends.slurm import gpu
from cfcompile.backends.slurm.limits import SiteLimits
from cfcompile.backends.slurm.packing import pack
from cfcompile.backends.slurm.preview import preview
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.caching import JsonCacher
from cfcompile.compiler.plan import plan
from cfcompile.errors import CfcompileError


@cf.stage(outputs=["a"], cachers=[JsonCacher])
def load(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher],
          resources={"gpu": 1, "gpu_model": "fake", "cpus_per_gpu": 2, "runtime": 20})  # fmt: skip
def train(record, a):
    return a


@cf.stage(inputs=["b"], outputs=["c"], cachers=[JsonCacher])
def evaluate(record, b):
    return b


def sweep(sets, manager):
    for p in sets:
        evaluate(train(load(cf.Record(manager, p))))


def traced(tmp_path, n=4):
    params = [cf.ExperimentParameters(name=f"s{i}") for i in range(n)]
    for i, p in enumerate(params):
        p.hash = f"{i:04x}"
    sg, _ = trace_graph(sweep, params, tmp_path)
    return sg, plan(sg)


SITE = SiteSettings(partition="debug", stages={"train": {"partition": "high"}})


def test_gpu_and_cpu_stages_of_one_chain_get_tasks_and_requests_of_their_own(tmp_path):
    sg, plans = traced(tmp_path)
    packing = pack(sg, plans, SITE, SiteLimits(50), 2)
    by_stage = {tuple(r.stages): r for r in packing.requests}
    assert set(by_stage) == {("load",), ("train",), ("evaluate",)}
    load_r, train_r, test_r = by_stage[("load",)], by_stage[("train",)], by_stage[("evaluate",)]
    assert (train_r.gpus, train_r.gpu_model, train_r.cpus_per_gpu) == (1, "fake", 2)
    assert train_r.options["partition"] == "high" and load_r.options["partition"] == "debug"
    assert load_r.gpus == test_r.gpus == 0
    assert train_r.after_corr == [load_r.index] and test_r.after_corr == [train_r.index]
    lines = preview(packing, SITE, "x")
    train_line = next(ln for ln in lines if f"#{train_r.index} sbatch" in ln)
    load_line = next(ln for ln in lines if f"#{load_r.index} sbatch" in ln)
    assert "--gpus=fake:1" in train_line and "--cpus-per-gpu=2" in train_line
    assert "--cpus-per-task" not in train_line and "--partition=high" in train_line
    assert "--cpus-per-task=1" in load_line and "--gpus" not in load_line
    # 2 tasks of 2 chains, each 2 x 20 min + 2 min of start-up, 1 GPU
    assert gpu.gpu_hours_requested(packing.requests) == {"train": pytest.approx(2 * 42 / 60)}


def test_the_yaml_says_gpu_or_gpus_and_types_are_plain_names():
    stages = {"train": {"gpus": 2, "gpu_model": "a100", "cpus_per_gpu": 4}}
    site = SiteSettings(stages=stages)
    site.check()
    assert site.stages["train"] == {"gpu": 2, "gpu_model": "a100", "cpus_per_gpu": 4}
    for bad in ("a100:2", "a100 --wrap=x", "a100\n#SBATCH --x", "", "a,b"):
        if bad == "":
            continue
        with pytest.raises(CfcompileError, match="not a GPU type name"):
            SiteSettings(stages={"t": {"gpu": 1, "gpu_model": bad}}).check()
    with pytest.raises(CfcompileError, match="one setting"):
        SiteSettings(stages={"t": {"gpu": 1, "gpus": 2}}).check()
    with pytest.raises(CfcompileError, match="whole number"):
        SiteSettings(stages={"t": {"cpus_per_gpu": "4; rm"}}).check()
    with pytest.raises(CfcompileError, match="sets what cfcompile sets itself"):
        SiteSettings(sbatch_extra=["--cpus-per-gpu=3"]).check()


def test_only_one_cpu_flag_and_type_only_with_gpus():
    assert gpu.sbatch_options(gpu.GpuAsk(2, "a100", 8), 4) == {"gpus": "a100:2", "cpus-per-gpu": 8}
    assert gpu.sbatch_options(gpu.GpuAsk(1), 4) == {"gpus": "1", "cpus-per-task": 4}
    assert gpu.sbatch_options(gpu.GpuAsk(), 3) == {"cpus-per-task": 3}


def test_gpu_hours_used_come_from_alloctres_and_elapsed():
    from cfcompile.backends.slurm import usage

    text = (
        "12_0|COMPLETED|00:30:00|00:00:10|0|1000M|01:00:00|"
        "billing=1,cpu=2,gres/gpu:fake=1,gres/gpu=1,mem=1000M,node=1\n"
        "12_0.batch|COMPLETED|00:30:00|00:00:10|50M|||cpu=2,gres/gpu=1,mem=1000M\n"
    )
    kept = usage.parse_usage(text)
    assert kept["12_0"]["gpus"] == 1
    subs = [{"array": "12", "executor": "slurm", "request": {"gpus": 1, "time_min": 60},
             "tasks": [{"job_id": "12_0", "nodes": [["train", "a"], ["train", "b"]]}]}]  # fmt: skip
    row = usage.rows(usage.by_stage(subs, kept, lambda nid: 900.0))[0]
    assert row["gpu_h_requested"] == 1.0 and row["gpu_h_used"] == 0.5
