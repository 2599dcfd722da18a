"""The Snakemake profiles both Slurm routes read, and the plugins they need
(``backends.profiles``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO

from cfcompile.backends import profiles
from cfcompile.errors import CfcompileError


def test_the_bundled_profiles_live_at_the_repository_root(tmp_path):
    assert Path(profiles.resolve_profile("slurm")) == REPO / "cluster_profiles" / "slurm"
    assert profiles.resolve_profile(str(tmp_path)) == str(tmp_path)
    with pytest.raises(CfcompileError, match="no Snakemake profile 'nope'"):
        profiles.resolve_profile("nope")
    (tmp_path / "config.yaml").write_text(
        "default-resources:\n  - mem_mb=1500\n  - slurm_partition='short'\n  - slurm_account=lab\n"
    )
    assert profiles.profile_defaults(str(tmp_path)) == {
        "mem_mb": "1500",
        "partition": "short",
        "account": "lab",
    }
    assert profiles.profile_defaults(None) == {}


def test_a_missing_snakemake_plugin_is_named_with_what_to_install():
    profiles.require_module("snakemake_executor_plugin_slurm", "--profile slurm", "slurm")
    with pytest.raises(CfcompileError) as err:
        profiles.require_module("snakemake_executor_plugin_nowhere", "--profile nowhere", "x")
    assert "snakemake-executor-plugin-nowhere, which is not installed" in str(err.value)
    assert "pip install 'cfcompile[x]'" in str(err.value)
