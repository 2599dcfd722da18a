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


def test_gpu_settings_become_the_executors_gpu_resources(tmp_path):
    import json

    from cfcompile.backends.snakemake.emit import _resource_literal
    from cfcompile.core.workdir import MANIFEST

    (tmp_path / "config.yaml").write_text("executor: slurm\n")
    (tmp_path / MANIFEST).write_text(json.dumps({"rules": {"train": ["train"], "prep": ["prep"]}}))
    settings = SiteSettings(stages={"train": {"partition": "gpu", "gpus": 2, "gpu_model": "a100",
                                              "cpus_per_gpu": 8}})  # fmt: skip
    settings.check()  # gpus is gpu's other name
    args, _ = slurm_args(settings, SiteLimits(50), str(tmp_path), str(tmp_path), [], {})
    given = args[args.index("--set-resources") + 1 :]
    assert sorted(given) == ['train:cpus_per_gpu=8', 'train:gpu=2', 'train:gpu_model="a100"',
                             'train:slurm_partition="gpu"']  # fmt: skip
    # a stage's own declaration reaches the Snakefile's rule the executor reads
    declared = {"gpu": 1, "gpu_model": "fake", "cpus_per_gpu": 2}
    assert _resource_literal(declared) == "gpu=1, gpu_model='fake', cpus_per_gpu=2"
