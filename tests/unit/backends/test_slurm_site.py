"""backends/slurm: what the site allows (limits), what it is told (site settings), what tasks
used (usage) and what is resubmitted after a limit killed a task (retry), from recorded text.

The texts are what the project's test cluster printed (strict mode: MaxArraySize=50,
MaxSubmitJobs=120) and what a larger site's tools print in the same formats.
"""

from __future__ import annotations

import pytest

from cfcompile.backends.slurm import limits, retry, site, usage
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.errors import CfcompileError
from cfcompile.views.usage_table import print_usage

CONFIG = """\
Configuration data as of 2026-12-02T03:40:01
AccountingStorageEnforce = associations,limits
MaxArraySize            = 50
MaxJobCount             = 10000
SLURM_VERSION           = 23.11.4
"""
PARTITIONS = (
    "PartitionName=debug AllowGroups=ALL Default=YES MaxTime=UNLIMITED State=UP TotalCPUs=4\n"
    "PartitionName=short AllowGroups=ALL MaxTime=02:00:00 State=UP\n"
    "PartitionName=long AllowGroups=ALL MaxTime=7-00:00:00 State=UP\n"
)
ASSOC = "cfcompile|root|||||normal|\ncfcompile|root|root||120||normal|\n"
BIG_ASSOC = (
    "hpc|lab||||5000|normal|\n"
    "hpc|lab|ada||2000||normal,long|normal\n"
    "hpc|other|ada||||normal|\n"
    "hpc|lab|bob||100||normal|\n"
)
BIG_QOS = "normal|1500||\nlong|20|40|\n"
SACCT = """\
2|COMPLETED|00:00:02|00:02.058||1000M|01:00:00
2.batch|COMPLETED|00:00:02|00:00.011|11996K||
2.0|COMPLETED|00:00:02|00:02.047|113032K||
1_0|COMPLETED|00:00:03|00:03.150||1000M|01:00:00
1_0.batch|COMPLETED|00:00:03|00:00.010|12164K||
1_0.0|COMPLETED|00:00:03|00:03.139|211556K||
1_1|OUT_OF_MEMORY|00:01:03|01:02.676||2000M|01:00:00
1_1.batch|OUT_OF_MEMORY|00:01:03|00:00.011|1.9G||
1_1.0|OUT_OF_MEMORY|00:01:03|01:02.665|2047M||
4_0|NODE_FAIL|00:00:40|00:00.400||1000M|00:10:00
4_0|COMPLETED|00:02:10|00:02:09||1000M|00:10:00
4_0.batch|COMPLETED|00:02:10|00:02:09|500M||
5_0|TIMEOUT|00:03:00|00:02:59||1000M|00:02:00
5_0.batch|CANCELLED|00:03:00|00:02:59|40M||
5_1|CANCELLED by 0|00:00:00|00:00:00||1000M|00:02:00
"""


def test_the_strict_test_cluster_is_read_as_it_is():
    assert limits.parse_config(CONFIG)["MaxArraySize"] == "50"
    maxima, default = limits.parse_partitions(PARTITIONS)
    assert maxima == {"debug": None, "short": 120, "long": 7 * 24 * 60}
    assert default == "debug"
    found = limits.submit_limits(
        limits.parse_rows(ASSOC, limits.ASSOC_COLUMNS),
        [],
        "root",
        None,
        None,
        queued_user=7,
        queued_account={"root": 7},
        queued_total=9,
        max_job_count=10000,
    )
    names = {lim.name: (lim.limit, lim.used) for lim in found}
    assert names == {
        "MaxSubmitJobs of association root/root": (120, 7),
        "MaxJobCount of the controller": (10000, 9),
    }
    room = limits.SiteLimits(50, found)
    assert room.room()[0] == 113
    assert "room for 113 job(s)" in room.describe()


def test_the_tightest_of_association_account_and_qos_limits_decides():
    assoc = limits.parse_rows(BIG_ASSOC, limits.ASSOC_COLUMNS)
    qos = limits.parse_rows(BIG_QOS, limits.QOS_COLUMNS)
    args = dict(queued_user=10, queued_account={"lab": 4990}, queued_total=6000)
    normal = limits.submit_limits(assoc, qos, "ada", "lab", None, max_job_count=None, **args)
    free = {lim.name: lim.free for lim in normal}
    assert free == {
        "MaxSubmitJobs of association lab/ada": 1990,
        "GrpSubmitJobs of account lab": 10,  # the account is nearly full: 4990 of 5000
        "MaxSubmitJobsPerUser of QOS normal": 1490,
    }
    assert limits.SiteLimits(1001, normal).room()[1].name == "GrpSubmitJobs of account lab"
    long = limits.submit_limits(assoc, qos, "ada", "lab", "long", max_job_count=None, **args)
    assert {lim.name: lim.free for lim in long}["MaxSubmitJobsPerUser of QOS long"] == 10
    assert {lim.name: lim.free for lim in long}["GrpSubmitJobs of QOS long"] == 0


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30", 30), ("2:00:00", 120), ("1-12:00:00", 2160), ("05:30", 6), ("UNLIMITED", None)],
)
def test_slurm_durations_become_minutes_rounded_up(text, minutes):
    assert limits.slurm_minutes(text) == minutes


def test_usage_is_read_per_task_with_requeued_attempts_and_step_peaks():
    found = usage.parse_usage(SACCT)
    assert found["2"]["max_rss_mb"] == pytest.approx(113032 / 1024)
    assert found["1_0"]["state"] == "COMPLETED" and found["1_0"]["elapsed_s"] == 3
    assert found["1_1"]["state"] == "OUT_OF_MEMORY"
    assert found["1_1"]["max_rss_mb"] == pytest.approx(2047)  # the larger of the two steps
    assert found["1_1"]["req_mem_mb"] == 2000
    assert found["4_0"]["attempts"] == ["NODE_FAIL"] and found["4_0"]["state"] == "COMPLETED"
    assert found["4_0"]["cpu_s"] == 129
    assert found["5_1"]["state"] == "CANCELLED"
    assert usage.mebibytes("1.5G") == 1536 and usage.mebibytes("4000Mn") == 4000
    assert usage.seconds("1-02:03:04") == 93784


def test_a_packed_tasks_peak_counts_for_each_stage_and_the_fit_adds_headroom():
    subs = [
        {
            "executor": "slurm",
            "stages": ["prep", "fit"],
            "request": {"mem_mb": 4000, "time_min": 60},
            "tasks": [
                {"job_id": f"9_{i}", "nodes": [["prep", str(i)], ["fit", str(i)]]} for i in range(3)
            ],
        }
    ]
    kept = {
        f"9_{i}": {"state": "COMPLETED", "max_rss_mb": 300.0 + 100 * i, "elapsed_s": 4.0,
                   "cpu_s": 2.0}
        for i in range(3)
    }  # fmt: skip
    per_stage = usage.by_stage(subs, kept, lambda nid: 1.0)
    assert set(per_stage) == {"prep", "fit"}
    assert per_stage["fit"].p(per_stage["fit"].rss, 0.5) == 400
    fitted = usage.fit(per_stage)
    mem, why = fitted["fit"]
    assert mem == 750 and "p95" in why  # 500 MB peak x 1.5, rounded to 50 MB
    row = usage.rows(per_stage)[0]
    assert row["mem_requested"] == 4000 and row["rss_p95"] == 500  # nearest rank


def test_the_usage_table_shows_asked_against_used_per_stage(capsys):
    rows = [
        {"stage": "fit", "tasks": 3, "mem_requested": 4000, "rss_p50": 400.0, "rss_p95": 500.0,
         "time_requested": 60, "wall_p50": 0.0004, "wall_p95": 0.25, "cpu_p50": 2.0,
         "cpu_p95": 300.0},
    ]  # fmt: skip
    print_usage(rows, "--fit-resources would ask for: fit 750 MB")
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("fit"))
    assert line.split() == ["fit", "3", "4000", "MB", "400", "MB", "500", "MB", "60", "min",
                            "<1", "ms", "250", "ms", "2.0", "s", "5", "min"]  # fmt: skip
    assert out.rstrip().endswith("fit 750 MB")
    print_usage([])
    assert capsys.readouterr().out == ""


def arrays_for_retry():
    """A chain array (two tasks: one ran out of time, one finished) and the array after it."""
    return [
        {
            "array": "5",
            "kind": "chains",
            "level": 0,
            "stages": ["slow"],
            "request": {"time_min": 2, "mem_mb": 1000, "cpus": 1, "gpus": 0},
            "tasks": [
                {"job_id": "5_0", "nodes": [["slow", "a"]]},
                {"job_id": "5_1", "nodes": [["slow", "b"]]},
            ],
        },
        {
            "array": "6",
            "kind": "chains",
            "level": 1,
            "stages": ["after"],
            "request": {"time_min": 3, "mem_mb": None, "cpus": 1, "gpus": 0},
            "tasks": [
                {"job_id": "6_0", "nodes": [["after", "a"]]},
                {"job_id": "6_1", "nodes": [["after", "b"]]},
            ],
        },
    ]


UPSTREAM = {("after", "a"): [("slow", "a")], ("after", "b"): [("slow", "b")]}


def test_a_timeout_is_retried_with_twice_the_time_and_its_dependents_follow():
    states = {
        "5_0": {"state": "TIMEOUT"},
        "5_1": {"state": "COMPLETED"},
        "6_0": {"state": "CANCELLED"},
        "6_1": {"state": "COMPLETED"},
    }
    done = {("slow", "b"), ("after", "b")}
    planned = retry.plan_retry(
        arrays_for_retry(), states, lambda n: n in done, lambda n: UPSTREAM.get(n, [])
    )
    assert [(r.tasks, r.time_min, r.after_ok) for r, _ in planned] == [
        ([[("slow", "a")]], 4, []),
        ([[("after", "a")]], 3, [0]),
    ]
    first, second = (info for _, info in planned)
    assert first["what"] == "after TIMEOUT, twice the time (2 -> 4 min)"
    assert second["what"] == "downstream of a retried task"


def test_an_out_of_memory_task_gets_twice_its_memory_and_a_plain_failure_nothing():
    arrays = arrays_for_retry()[:1]
    oom = usage.parse_usage("5_0|OUT_OF_MEMORY|00:01:00|00:00:59||1000M|00:02:00\n")
    planned = retry.plan_retry(arrays, oom, lambda n: False, lambda n: [])
    assert [(r.mem_mb, r.time_min) for r, _ in planned] == [(2000, 2)]
    failed = {"5_0": {"state": "FAILED"}, "5_1": {"state": "FAILED"}}
    assert retry.plan_retry(arrays, failed, lambda n: False, lambda n: []) == []


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
