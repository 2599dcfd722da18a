"""Snakemake profiles, which both Slurm routes read: a folder, or a profile by name.

``--profile NAME`` is the project's own ``cluster_profiles/NAME`` when there is one (what
``cfcompile --init-profile`` writes, for a site's settings), else the bundled one
(``cfcompile.cluster_profiles``: ``local``, ``slurm``); ``--profile DIR`` takes any folder
holding a ``config.yaml``. ``--submit`` reads the same profile's ``default-resources`` and
its ``cfcompile.yaml``, so one profile describes a site for both routes.
"""

from __future__ import annotations

import importlib.util
import os
import re

import yaml

from cfcompile import cluster_profiles
from cfcompile.errors import CfcompileError


def resolve_profile(profile: str, project_root: str | None = None) -> str:
    """A profile directory: a path, the project's ``cluster_profiles/NAME``, or a bundled one."""
    if os.path.isdir(profile):
        return os.path.abspath(profile)
    if project_root and os.sep not in profile:
        own = os.path.join(project_root, "cluster_profiles", profile)
        if os.path.isfile(os.path.join(own, "config.yaml")):
            return own
    if profile in cluster_profiles.BUNDLED:
        return cluster_profiles.folder(profile)
    raise CfcompileError(
        f"no Snakemake profile '{profile}': give a directory holding config.yaml, or one of "
        f"the bundled profiles {', '.join(cluster_profiles.BUNDLED)} (cfcompile --init-profile "
        "DIR copies them into a project to edit)"
    )


def profile_config(folder: str) -> dict:
    path = os.path.join(folder, "config.yaml")
    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise CfcompileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise CfcompileError(f"{path}: expected Snakemake settings (key: value)")
    return config


def is_slurm(folder: str) -> bool:
    """Whether the profile runs its jobs through Snakemake's slurm executor."""
    return profile_config(folder).get("executor") == "slurm"


_ATTEMPT = re.compile(r"^\s*(\d+)\s*\*\s*attempt\s*$|^\s*attempt\s*\*\s*(\d+)\s*$")


def profile_defaults(folder: str | None) -> dict:
    """partition / account / mem_mb / runtime from a profile's default-resources, as plain
    values (``1000*attempt``, the retry-doubling form, counts as 1000)."""
    if not folder:
        return {}
    out = {}
    for item in profile_config(folder).get("default-resources", []) or []:
        key, _, value = str(item).partition("=")
        key = {"slurm_partition": "partition", "slurm_account": "account"}.get(key.strip(), key)
        value = value.strip().strip("'\"")
        m = _ATTEMPT.match(value)
        out[key.strip()] = (m.group(1) or m.group(2)) if m else value
    return out


def require_module(module: str, what: str, extra: str) -> None:
    """Refuse, saying what to install, when ``module`` (a Snakemake plugin) is missing."""
    if importlib.util.find_spec(module) is None:
        raise CfcompileError(
            f"{what} needs {module.replace('_', '-')}, which is not installed: "
            f"pip install 'cfcompile[{extra}]' (from a checkout: pip install -e '.[{extra}]')"
        )
