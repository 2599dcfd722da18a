"""``--run --profile slurm``: the site's settings and limits as the slurm executor's flags
(``backends.snakemake.on_slurm``)."""

from __future__ import annotations

from cfcompile.backends.slurm.limits import Limit, SiteLimits
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.backends.snakemake.on_slurm import slurm_args

STRICT = SiteLimits(50, [Limit("MaxSubmitJobs of association root/root", 120, 0)])


def test_the_snakemake_route_gets_the_same_site_as_flags(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "executor: slurm\njobs: 500\ndefault-resources:\n  - mem_mb=1000*attempt\n"
    )
    settings = SiteSettings(
        account="lab", qos="long", reservation="r1", prologue=["module load py"],
        sbatch_extra=["--exclusive"], log_dir="logs",
    )  # fmt: skip
    args, notes = slurm_args(settings, STRICT, str(tmp_path), str(tmp_path), [], {"fit": 400})
    joined = " ".join(args)
    assert "--jobs 120" in joined and "--slurm-qos long --slurm-reservation r1" in joined
    assert "--precommand module load py" in joined
    assert "--default-resources mem_mb=1000*attempt" in joined
    assert 'slurm_account="lab"' in joined and 'slurm_extra="--exclusive"' in joined
    assert "--slurm-array-jobs fit --slurm-array-limit 50" in joined
    assert any("MaxSubmitJobs" in n for n in notes)
    mine, _ = slurm_args(settings, STRICT, str(tmp_path), str(tmp_path), ["--jobs", "5"], {})
    assert "--jobs" not in mine
