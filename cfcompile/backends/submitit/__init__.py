"""The submitit backend: submit job arrays chained with ``afterok`` and exit.

``arrays`` submits (Slurm, or submitit's local executor); ``slurm`` reads job states back.
``states`` is this backend's side of the protocol views use: job state per node from the
recorded submissions, without the view knowing about arrays or sacct.
"""

from __future__ import annotations

from cfcompile.backends.submitit import slurm
from cfcompile.backends.submitit.arrays import check_overrides, executor_parameters, submit
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import load_submissions

NAME = "submitit"


def states(workdir: str) -> dict[NodeId, dict]:
    """Per node of the latest submission: {"state", "job_id", "log", "executor"}.

    ``state`` is one word (queued, running, done, failed, timed out, cancelled, unknown); a
    task of the local executor has finished by the time it is recorded, so it is "ended".
    """
    latest: dict[NodeId, dict] = {}
    slurm_ids: set[str] = set()
    for array in load_submissions(workdir):
        for task in array["tasks"]:
            for nid in task["nodes"]:
                latest[tuple(nid)] = {
                    "job_id": task["job_id"],
                    "log": task["log"],
                    "executor": array["executor"],
                }
        if array["executor"] == "slurm":
            slurm_ids.add(array["array"])
    raw = slurm.query(sorted(slurm_ids)) if slurm_ids else {}
    for entry in latest.values():
        if entry["executor"] == "slurm":
            entry["slurm_state"] = raw.get(entry["job_id"], "UNKNOWN")
            entry["state"] = slurm.classify(entry["slurm_state"])
        else:
            entry["state"] = "ended"
    return latest


__all__ = ["NAME", "check_overrides", "executor_parameters", "states", "submit"]
