"""``python -m cfcompile.job`` (``cfcompile/job.py``): the public path is the job runtime."""

from __future__ import annotations

import cfcompile.job
from cfcompile.runtime import job_runner


def test_the_public_job_path_is_the_runtime():
    assert cfcompile.job.run_task is job_runner.run_task and cfcompile.job.main is job_runner.main
