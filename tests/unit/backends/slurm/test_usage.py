"""What each Slurm task used (``backends.slurm.usage``), from recorded sacct text."""

from __future__ import annotations

import pytest

from cfcompile.backends.slurm import usage

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
