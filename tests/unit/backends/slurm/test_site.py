"""The site's settings beside the profile, every value checked (``backends.slurm.site``)."""

from __future__ import annotations

import pytest

from cfcompile.backends.slurm import site
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.errors import CfcompileError


@pytest.mark.parametrize("bad", ["debug\n#SBATCH --wrap=x", "a b", "$(id)", "p;rm"])
def test_a_partition_that_could_inject_a_directive_is_refused(bad):
    with pytest.raises(CfcompileError, match="not a plain name"):
        SiteSettings().with_flags(partition=bad)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("partition", "debug\n#SBATCH --wrap=x"),
        ("account", "$(id)"),
        ("qos", "a b"),
        ("reservation", "r;rm -rf ~"),
        ("constraint", "x`id`"),
        ("python", "python3; touch PWNED"),
        ("sbatch_extra", ["--exclusive\n#SBATCH --uid=0"]),
        ("sbatch_extra", ["--wrap=id"]),
        ("sbatch_extra", ["--time=5"]),
        ("prologue", ["#SBATCH --uid=0"]),
        ("prologue", ["module load x\nid"]),
    ],
)
def test_nothing_in_the_site_settings_can_inject_a_directive(key, value):
    with pytest.raises(CfcompileError, match=key.split("_")[0]):
        SiteSettings(**{key: value}).check()


def test_site_settings_load_beside_the_profile_and_flags_win(tmp_path):
    (tmp_path / "cfcompile.yaml").write_text(
        "account: lab\npartition: short\nprologue: module load python/3.11\n"
        "sbatch_extra: [--exclusive, --mail-type=END]\n"
        "stages:\n  fit:\n    partition: gpu\n    mem_mb: 8000\n"
    )
    loaded = site.load(str(tmp_path))
    assert loaded.prologue == ["module load python/3.11"]
    assert loaded.interpreter("/login/venv/bin/python") == "python3"
    assert loaded.sbatch("fit") == {
        "account": "lab",
        "partition": "gpu",
        "exclusive": True,
        "mail-type": "END",
    }
    flagged = loaded.with_flags(partition="debug", qos="long", account=None)
    assert flagged.sbatch()["partition"] == "debug" and flagged.sbatch()["qos"] == "long"
    (tmp_path / "cfcompile.yaml").write_text("acount: lab\n")
    with pytest.raises(CfcompileError, match=r"unknown settings \['acount'\]"):
        site.load(str(tmp_path))


def test_init_profile_copies_the_bundled_profiles_and_never_overwrites(tmp_path):
    written = site.init_profiles(str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["local", "slurm"]
    assert (tmp_path / "cluster_profiles" / "slurm" / "cfcompile.yaml").exists()
    assert site.load(str(tmp_path / "cluster_profiles" / "slurm")) == SiteSettings(
        source=str(tmp_path / "cluster_profiles" / "slurm" / "cfcompile.yaml")
    )
    with pytest.raises(CfcompileError, match="exists already"):
        site.init_profiles(str(tmp_path))
