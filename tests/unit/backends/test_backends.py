"""backends/: the protocol both backends implement, the profiles both Slurm routes read, the
array parameters, and the Snakefile's building blocks (quoting, labels, rules)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, trace_graph

import cfcompile as cf
from cfcompile.backends import all_backends, profiles, protocol, slurm, snakemake
from cfcompile.backends.slurm import arrays
from cfcompile.backends.slurm.requests import ArrayKind, Request
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.backends.snakemake import emit
from cfcompile.caching import JsonCacher
from cfcompile.compiler.grouping import batch_units
from cfcompile.errors import CfcompileError


def test_both_backends_implement_the_protocol():
    names = []
    for backend in all_backends():
        names.append(backend.name)
        for method in ("prepare", "launch", "states"):
            want = inspect.signature(getattr(protocol.Backend, method))
            have = inspect.signature(getattr(type(backend), method))
            assert list(have.parameters) == list(want.parameters), (backend.name, method)
    assert names == [snakemake.BACKEND.name, slurm.BACKEND.name] == ["snakemake", "slurm arrays"]


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


@pytest.mark.parametrize("bad", ["debug\n#SBATCH --wrap=x", "a b", "$(id)", "p;rm"])
def test_a_partition_that_could_inject_a_directive_is_refused(bad):
    with pytest.raises(CfcompileError, match="not a plain name"):
        SiteSettings().with_flags(partition=bad)


def test_snakefile_literals_cannot_become_code_or_wildcards():
    assert emit.lit("a'b\n") == repr("a'b\n")
    assert emit.brace("{x}") == "{{x}}"


@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


@cf.stage(outputs=["a"], cachers=[JsonCacher], resources={"mem_mb": 300, "runtime": 2})
def one(record):
    return 1


@cf.stage(inputs=["a"], outputs=["b"], cachers=[JsonCacher], threads=2)
def two(record, a):
    return a


def run(sets, manager):
    for p in sets:
        two(one(cf.Record(manager, p)))


def test_one_rule_per_stage_or_unit_asking_for_its_largest_job(tmp_path):
    names = ["plain", "\x1b[31mred", "x" * 100]
    sg, _ = trace_graph(run, [P(name=n, x=i) for i, n in enumerate(names)], tmp_path)
    units = batch_units(sg, 2)
    rules, inputs, targets = emit.plan_rules(sg, sg.info.workdir, units)
    (unit_rule,) = [r for r in rules if r["name"] == emit.BATCH_RULE]
    assert unit_rule["threads"] == 2  # the largest member's threads
    # two chains of 2 minutes; a retried job (attempt 2) asks for twice as much
    assert unit_rule["resources"] == (
        "mem_mb=lambda wildcards, attempt: 300 * attempt, "
        "runtime=lambda wildcards, attempt: 4 * attempt"
    )
    assert sorted(inputs[emit.BATCH_RULE]) == sorted(units)
    assert len(targets) == len(units)
    label = emit.unit_label(units["0"])
    assert label.startswith("one, two [2 parameter sets: plain, ?[31mred")  # no escape codes


def test_a_brace_or_control_character_in_a_path_is_refused(tmp_path):
    sg, _ = trace_graph(run, [P(name="a")], tmp_path)
    with pytest.raises(CfcompileError, match="wildcard"):
        emit.check_paths(sg, str(tmp_path / "wf{x}"))
    with pytest.raises(CfcompileError, match="control character"):
        emit.check_paths(sg, str(tmp_path / "wf\nx"))


def test_a_missing_snakemake_plugin_is_named_with_what_to_install():
    profiles.require_module("snakemake_executor_plugin_slurm", "--profile slurm", "slurm")
    with pytest.raises(CfcompileError) as err:
        profiles.require_module("snakemake_executor_plugin_nowhere", "--profile nowhere", "x")
    assert "snakemake-executor-plugin-nowhere, which is not installed" in str(err.value)
    assert "pip install 'cfcompile[x]'" in str(err.value)
