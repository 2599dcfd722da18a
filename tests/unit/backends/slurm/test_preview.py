"""``--submit slurm --dry-run``: the sbatch requests a submission would make
(``backends.slurm.preview``)."""

from __future__ import annotations

from cfcompile.backends.slurm.limits import SiteLimits
from cfcompile.backends.slurm.packing import pack
from cfcompile.backends.slurm.preview import preview
from cfcompile.backends.slurm.requests import Demands
from cfcompile.backends.slurm.site import SiteSettings

from .traced_sweep import traced


def test_the_preview_prints_each_sbatch_request_and_the_retry_job(tmp_path):
    sg, plans = traced(tmp_path, 120)
    settings = SiteSettings(account="lab", qos="long", sbatch_extra=["--exclusive"], max_running=6)
    packing = pack(sg, plans, settings, SiteLimits(50), 1, Demands(mem_mb=2000))
    lines = preview(packing, settings, "exp")
    calls = [line for line in lines if line.startswith("#")]
    assert len(calls) == len(packing.requests) + 1
    assert calls[0].startswith("#0 sbatch --array=0-49%2 ")
    assert "--mem=2000M" in calls[0] and "--account=lab --qos=long --exclusive" in calls[0]
    last_chain = [c for c in calls if "L2-chains" in c][0]
    assert "--dependency=afterok:#3,aftercorr:#0" in last_chain
    assert "--dependency=afterany:#0:#1:" in calls[-1] and "cf-exp-retry" in calls[-1]
