"""The modes that start jobs (``cli.run_modes``): the site's settings as flags, cfcompile.yaml
and the profile give them, and ``--init-profile``."""

from __future__ import annotations

import argparse

import pytest

from cfcompile.cli import run_modes
from cfcompile.errors import CfcompileError


def args(**given) -> argparse.Namespace:
    keys = ("account", "partition", "qos", "constraint", "reservation", "max_running", "time",
            "mem_mb", "gpus")  # fmt: skip
    return argparse.Namespace(**{k: given.get(k) for k in keys})


def test_flags_win_over_cfcompile_yaml_which_wins_over_the_profile(tmp_path):
    (tmp_path / "config.yaml").write_text(
        "default-resources:\n  - mem_mb=1500\n  - runtime=30\n  - slurm_partition='short'\n"
        "  - slurm_account=profile_lab\n"
    )
    (tmp_path / "cfcompile.yaml").write_text("account: lab\n")
    settings, demands = run_modes.site_settings(args(qos="long"), str(tmp_path))
    assert settings.sbatch() == {"account": "lab", "partition": "short", "qos": "long"}
    assert (demands.default_time_min, demands.default_mem_mb) == (30, 1500)
    flagged, demands = run_modes.site_settings(args(partition="gpu", mem_mb=800), str(tmp_path))
    assert flagged.sbatch()["partition"] == "gpu" and demands.mem_mb == 800


def test_init_profile_needs_a_folder(tmp_path, capsys):
    assert run_modes.cmd_init_profile(str(tmp_path)) == 0
    printed = capsys.readouterr()
    assert str(tmp_path / "cluster_profiles" / "slurm") in printed.out
    assert "edit cluster_profiles/slurm/cfcompile.yaml" in printed.err
    with pytest.raises(CfcompileError, match="is not a folder"):
        run_modes.cmd_init_profile(str(tmp_path / "missing"))
