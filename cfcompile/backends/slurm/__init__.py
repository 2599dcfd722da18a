"""The Slurm array backend: submit job arrays chained with ``afterok`` and exit.

``submit`` builds and submits the arrays through submitit (on Slurm, or submitit's local
executor, which runs the same arrays on this machine); ``sacct`` reads their states back.
``states`` is this backend's side of what views ask: the job state of each node from the
recorded submissions, without the view knowing about arrays or sacct.
"""

from __future__ import annotations

import sys

from cfcompile.backends.protocol import Compiled, JobState, Launch
from cfcompile.backends.slurm import sacct
from cfcompile.backends.slurm.arrays import check_overrides, submit
from cfcompile.core.ir import NodeId
from cfcompile.core.workdir import load_failure, load_submissions


class ArrayBackend:
    name = "slurm arrays"

    def prepare(self, compiled: Compiled) -> None:
        """Nothing to write: array tasks read the version's node store directly."""

    def launch(self, compiled: Compiled, how: Launch) -> int:
        """Submit every array and print one line per array; 1 if a local task failed."""
        check_overrides(how.overrides)
        batch = max(1, compiled.batch.k)
        arrays, failures = submit(
            compiled.sg,
            compiled.plans,
            compiled.workdir,
            compiled.version,
            how.cluster,
            how.overrides,
            batch,
        )
        if not arrays:
            print("cfcompile: nothing to submit: every node is cached", file=sys.stderr)
            return 0
        for arr in arrays:
            deps = ",".join(arrays[d].job_id or "-" for d in sorted(arr.depends)) or "-"
            print(
                f"{arr.job_id or 'skipped'}\tlevel {arr.level} {arr.kind}: {len(arr.tasks)} "
                f"task(s), {sum(len(t) for t in arr.tasks)} node(s), after {deps}"
            )
        if how.cluster == "slurm":
            print(
                f"cfcompile: submitted {len(arrays)} array(s); check with --status",
                file=sys.stderr,
            )
            return 0
        for task, message in failures:
            recorded = [(nid, load_failure(compiled.workdir, nid)) for nid in task]
            nid, failure = next(((n, f) for n, f in recorded if f), (task[0], None))
            text = failure["message"] if failure else message
            label = compiled.sg.node(nid).label
            print(f"cfcompile: failed: {nid[0]} [{label}]: {text}", file=sys.stderr)
        if failures:
            print(
                f"cfcompile: {len(failures)} task(s) failed; their dependents were skipped. "
                "See --status for each node and its log.",
                file=sys.stderr,
            )
        return 1 if failures else 0

    def states(self, workdir: str) -> dict[NodeId, JobState]:
        """Per node of the latest submission: {"state", "job_id", "log", "executor"}.

        ``state`` is one word (queued, running, done, failed, timed out, cancelled, unknown);
        a task of the local executor has finished by the time it is recorded, so it is
        "ended".
        """
        latest: dict[NodeId, JobState] = {}
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
        raw = sacct.query(sorted(slurm_ids)) if slurm_ids else {}
        for entry in latest.values():
            if entry["executor"] == "slurm":
                entry["slurm_state"] = raw.get(entry["job_id"], "UNKNOWN")
                entry["state"] = sacct.classify(entry["slurm_state"])
            else:
                entry["state"] = "ended"
        return latest


BACKEND = ArrayBackend()

__all__ = ["BACKEND", "ArrayBackend", "check_overrides"]
