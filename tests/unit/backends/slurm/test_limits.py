"""What the site allows one user to queue (``backends.slurm.limits``), from recorded text.

The texts are what the project's test cluster printed (strict mode: MaxArraySize=50,
MaxSubmitJobs=120) and what a larger site's tools print in the same formats.
"""

from __future__ import annotations

import pytest

from cfcompile.backends.slurm import limits

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
