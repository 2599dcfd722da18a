"""Snakemake profiles, which both Slurm routes read: a folder, or a bundled one by name.

``cluster_profiles/local`` and ``cluster_profiles/slurm`` ship with cfcompile
(``cfcompile.cluster_profiles``); ``--profile DIR`` takes any folder holding a
``config.yaml``. ``--submit`` reads the same profile's ``default-resources``, so one profile
describes a site for the Snakemake route and the array route alike.
"""

from __future__ import annotations

import os

import yaml

from cfcompile import cluster_profiles
from cfcompile.errors import CfcompileError


def resolve_profile(profile: str) -> str:
    """A profile directory, or the name of a bundled one (``local``, ``slurm``)."""
    if os.path.isdir(profile):
        return os.path.abspath(profile)
    if profile in cluster_profiles.BUNDLED:
        return cluster_profiles.folder(profile)
    raise CfcompileError(
        f"no Snakemake profile '{profile}': give a directory holding config.yaml, or one of "
        f"the bundled profiles {', '.join(cluster_profiles.BUNDLED)}"
    )


def profile_defaults(profile: str | None) -> dict:
    """slurm_partition / slurm_account / mem_mb / runtime from a profile's default-resources.

    ``--submit`` reads them too, so one profile describes a site for both Slurm routes.
    """
    if not profile:
        return {}
    with open(os.path.join(resolve_profile(profile), "config.yaml")) as f:
        config = yaml.safe_load(f) or {}
    out = {}
    for item in config.get("default-resources", []) or []:
        key, _, value = str(item).partition("=")
        key = {"slurm_partition": "partition", "slurm_account": "account"}.get(key, key)
        out[key] = value.strip("'\"")
    return out
