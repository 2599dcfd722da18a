"""What submitit is asked for each packed array (``backends.slurm.arrays``)."""

from __future__ import annotations

from cfcompile.backends.slurm import arrays
from cfcompile.backends.slurm.requests import ArrayKind, Request
from cfcompile.backends.slurm.site import SiteSettings


def test_array_parameters_carry_the_request_the_site_and_the_chaining():
    req = Request(0, 1, ArrayKind.CHAINS, [[("s", "1")]] * 3, ["s"], 30, 2000, 2, 1,
                  options={"qos": "long"}, throttle=2)  # fmt: skip
    site = SiteSettings(prologue=["module load python"])
    params = arrays.executor_parameters(req, site, "cf-x-L1-chains", "afterok:7")
    assert params["timeout_min"] == 30 and params["slurm_mem"] == "2000M"
    assert params["cpus_per_task"] == 2 and params["slurm_array_parallelism"] == 2
    assert params["slurm_setup"] == ["module load python"]
    extra = params["slurm_additional_parameters"]
    assert extra == {"qos": "long", "kill-on-invalid-dep": "yes", "requeue": True,
                     "dependency": "afterok:7", "gpus": "1"}  # fmt: skip
    assert arrays.dependency(Request(2, 2, ArrayKind.CHAINS, [], [], 1, None, 1, 0,
                                     after_ok=[1], after_corr=[0]),
                             {0: "10", 1: "11"}) == "afterok:11,aftercorr:10"  # fmt: skip


def test_a_typed_gpu_request_with_cpus_per_gpu_never_also_asks_cpus_per_task():
    req = Request(0, 0, ArrayKind.CHAINS, [[("train", "1")]], ["train"], 30, None, 4, 2,
                  gpu_model="a100", cpus_per_gpu=8)  # fmt: skip
    params = arrays.executor_parameters(req, SiteSettings(), "cf-x-L0-chains", None)
    assert "cpus_per_task" not in params  # sbatch refuses --cpus-per-gpu beside it
    extra = params["slurm_additional_parameters"]
    assert extra["gpus"] == "a100:2" and extra["cpus-per-gpu"] == 8
