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
    assert params["slurm_gpus_per_node"] == 1 and params["slurm_setup"] == ["module load python"]
    extra = params["slurm_additional_parameters"]
    assert extra == {"qos": "long", "kill-on-invalid-dep": "yes", "requeue": True,
                     "dependency": "afterok:7"}  # fmt: skip
    assert arrays.dependency(Request(2, 2, ArrayKind.CHAINS, [], [], 1, None, 1, 0,
                                     after_ok=[1], after_corr=[0]),
                             {0: "10", 1: "11"}) == "afterok:11,aftercorr:10"  # fmt: skip
