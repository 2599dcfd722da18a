"""The Slurm array backend: pack the sweep for the site, submit arrays chained by Slurm, exit.

``limits`` reads what the site lets this user queue, ``site`` the settings beside the profile,
``packing`` cuts the nodes into arrays that fit both, ``arrays`` submits them through submitit
(on Slurm, or submitit's local executor, which runs the same arrays on this machine),
``retry`` is the job that resubmits what hit a limit, ``usage`` what each task used, and
``sacct`` reads job states back. ``states`` is this backend's side of what views ask.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import replace

from cfcompile.backends.protocol import JobState, Launch, Prepared
from cfcompile.backends.slurm import limits, sacct, usage
from cfcompile.backends.slurm.arrays import run_local, submit_slurm
from cfcompile.backends.slurm.packing import Packing, pack
from cfcompile.backends.slurm.preview import preview
from cfcompile.backends.slurm.requests import Demands
from cfcompile.backends.slurm.retry import submit_retry_job
from cfcompile.backends.slurm.site import SiteSettings
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.grouping import node_seconds
from cfcompile.compiler.version import compile_lock
from cfcompile.core.ir import NodeId
from cfcompile.core.provenance import end_run, start_run
from cfcompile.core.workdir import load_failure, load_submissions, save_submissions


def say(text: str) -> None:
    print(f"cfcompile: {text}", file=sys.stderr)


class ArrayBackend:
    name = "slurm arrays"

    def prepare(self, compiled: Prepared) -> None:
        """Nothing to write: array tasks read the version's node store directly."""

    def plan(self, compiled: Prepared, how: Launch) -> Packing:
        """The arrays this submission would make, saying what decided their shape."""
        site: SiteSettings = how.site or SiteSettings()
        demands: Demands = how.demands or Demands()
        if how.cluster != "slurm":  # this machine: its cores decide, no site, no retry job
            return pack(compiled.sg, compiled.plans, replace(site, retry=False),
                        limits.SiteLimits(), max(1, compiled.batch.k), demands)  # fmt: skip
        found = limits.read(site.account, site.qos)
        for note in found.notes:
            say(f"warning: {note}")
        say(f"site limits: {found.describe()}")
        if how.fit:
            demands = replace(demands, fitted=self.fitted(compiled.sg, compiled.workdir))
        packing = pack(compiled.sg, compiled.plans, site, found, how.batch, demands)
        for sentence in packing.why:
            say(f"packing: {sentence}")
        return packing

    def fitted(self, sg: StageGraph, workdir: str) -> dict[str, tuple[int, str]]:
        """--fit-resources: memory per stage from what earlier tasks used (printed)."""
        found = usage.fit(stage_usage(sg, workdir))
        for stage, (mem, why) in found.items():
            declared = [n.job_resources().get("mem_mb") for n in sg.nodes() if n.stage == stage]
            before = max((d for d in declared if d), default=None)
            say(f"--fit-resources: {stage}: {before or 'default'} -> {mem} MB ({why})")
        if not found:
            say("--fit-resources: no recorded usage yet; requests stay as declared")
        return found

    def launch(self, compiled: Prepared, how: Launch) -> int:
        """Submit every array (or print them with ``how.preview``); 1 if a local task failed."""
        packing = self.plan(compiled, how)
        if not packing.requests:
            say("nothing to submit: every node is cached")
            return 0
        site = how.site or SiteSettings()
        experiment = compiled.sg.info.experiment
        if how.preview:
            print("\n".join(preview(packing, site, experiment)))
            say(f"{len(packing.requests)} array(s), {packing.tasks} task(s); nothing submitted")
            return 0
        if how.cluster != "slurm":
            return self._run_local(compiled, packing, site)
        records = submit_slurm(packing.requests, compiled.workdir, compiled.version, experiment,
                               site)  # fmt: skip
        if packing.retry_job:
            try:
                records.append(submit_retry_job(compiled.workdir, compiled.version, experiment,
                                                site, records))  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the arrays are queued: record them
                say(f"warning: the retry job was not submitted ({' '.join(str(exc).split())}); "
                    "tasks that run out of time or memory will not be resubmitted")  # fmt: skip
                packing.retry_job = False
        with compile_lock(compiled.workdir):  # once: another submit may be appending too
            save_submissions(compiled.workdir, records)
        run_id = start_run(compiled.workdir, compiled.version,
                           shlex.join(["cfcompile", *sys.argv[1:]]), how.cwd)  # fmt: skip
        end_run(compiled.workdir, run_id, f"submitted {len(records)} Slurm job(s)")
        ids = {r.index: r.job_id for r in packing.requests}
        for r in packing.requests:
            after = [ids[i] or "-" for i in r.after_ok] + [f"{ids[i]} (per task)"
                                                           for i in r.after_corr]  # fmt: skip
            print(
                f"{r.job_id}\tlevel {r.level} {r.kind}: {len(r.tasks)} task(s), {r.nodes} "
                f"node(s), after {', '.join(after) or '-'}"
            )
        if packing.retry_job:
            print(f"{records[-1]['array']}\tretry job: after all of them")
        check = compiled.sg.info.command("--status")
        say(f"submitted {len(packing.requests)} array(s); check with {check}")
        return 0

    def _run_local(self, compiled: Prepared, packing: Packing, site: SiteSettings) -> int:
        sg = compiled.sg
        command = shlex.join(["cfcompile", *sys.argv[1:]])
        run_id = start_run(compiled.workdir, compiled.version, command, sg.info.project_root)
        records, failures = run_local(packing.requests, compiled.workdir, compiled.version,
                                      site, set(), lambda t, f: _blocked(sg, t, f))  # fmt: skip
        end_run(compiled.workdir, run_id, "failed" if failures else "succeeded")
        for r in records:
            nodes = sum(len(t["nodes"]) for t in r["tasks"])
            print(f"{r['array']}\tlevel {r['level']} {r['kind']}: {len(r['tasks'])} task(s), "
                  f"{nodes} node(s)")  # fmt: skip
        for task, message in failures:
            recorded = [(nid, load_failure(compiled.workdir, nid)) for nid in task]
            nid, failure = next(((n, f) for n, f in recorded if f), (task[0], None))
            text = failure["message"] if failure else message
            say(f"failed: {nid[0]} [{sg.node(nid).label}]: {text}")
        if failures:
            say(f"{len(failures)} task(s) failed; their dependents were skipped. See "
                f"{sg.info.command('--status')} for each node and its log.")  # fmt: skip
        return 1 if failures else 0

    def states(self, workdir: str) -> dict[NodeId, JobState]:
        """Per node of its latest submission: {"state", "job_id", "log", "executor"}, and
        "note" when it was retried or requeued.

        ``state`` is one word (queued, running, done, failed, timed out, cancelled, unknown);
        a task of the local executor has finished by the time it is recorded ("ended").
        """
        latest: dict[NodeId, JobState] = {}
        submissions = load_submissions(workdir)
        slurm_ids = sorted({a["array"] for a in submissions if a["executor"] == "slurm"})
        for array in submissions:
            retry = array.get("retry_of")
            for task in array["tasks"]:
                for nid in task["nodes"]:
                    entry: JobState = {"job_id": task["job_id"], "log": task["log"],
                                       "executor": array["executor"]}  # fmt: skip
                    if retry:
                        entry["note"] = f"retried as {task['job_id']} {retry['what']}"
                    latest[tuple(nid)] = entry
        raw = sacct.query(slurm_ids) if slurm_ids else {}
        kept = usage.record(workdir, submissions) if slurm_ids else {}
        for entry in latest.values():
            if entry["executor"] == "slurm":
                entry["slurm_state"] = raw.get(entry["job_id"], "UNKNOWN")
                entry["state"] = sacct.classify(entry["slurm_state"])
                attempts = kept.get(entry["job_id"], {}).get("attempts")
                if attempts and "note" not in entry:
                    entry["note"] = f"requeued by Slurm (earlier attempts: {', '.join(attempts)})"
            else:
                entry["state"] = "ended"
        return latest

    def cancel(self, workdir: str) -> list[str]:
        """scancel what this workflow submitted that is still queued or running (the retry
        job first, so that it resubmits nothing); returns the job ids cancelled."""
        submissions = [a for a in load_submissions(workdir) if a["executor"] == "slurm"]
        ids = [a["array"] for a in sorted(submissions, key=lambda a: a["kind"] != "retry job")]
        if not ids:
            return []
        out = sacct.run(["squeue", "-h", "-r", "-j", ",".join(ids), "-o", "%F"], 60)
        alive = {line.strip() for line in out.splitlines() if line.strip()}
        doomed = [i for i in ids if i in alive]
        if doomed:
            subprocess.run(["scancel", *doomed], check=False)
        return doomed


def stage_usage(sg: StageGraph, workdir: str, fresh: bool = True) -> dict[str, usage.StageUsage]:
    """What earlier tasks used per stage (``usage.by_stage``), node times from metadata;
    ``fresh=False`` when ``states`` has just asked sacct (``--status``): usage.json is read."""
    submissions = load_submissions(workdir)
    kept = usage.record(workdir, submissions) if fresh else usage.load(workdir)

    def seconds(nid: NodeId) -> float | None:
        try:
            return node_seconds(sg.node(nid))
        except KeyError:
            return None

    return usage.by_stage(submissions, kept, seconds)


def _blocked(sg: StageGraph, task: list, failed: set) -> bool:
    if not failed:
        return False
    return any(f in sg.graph.ancestors(n) for n in task for f in failed)


BACKEND = ArrayBackend()

__all__ = ["BACKEND", "ArrayBackend", "stage_usage"]
