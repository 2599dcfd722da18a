"""On the test cluster playing a strict site: MaxArraySize=50 and MaxSubmitJobs=120 (an
enforced association limit), as many HPC centres set them.

The cluster is restarted in that mode for this module and back to Slurm's defaults after it.
A stage that overruns its Slurm time limit is submitted first, so that its real TIMEOUT, the
retry job and the resubmission with twice the time run while the other tests use the cluster
(its jobs also count against the submit limit, as queued jobs do at a real site); the last
test checks how it ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers import CHAIN, REPO, run_cli, write_project
from test_slurm import sacct_states, submitted_ids, submitted_tasks, wait_for

pytestmark = pytest.mark.slurm
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
STRICT = {"CFCOMPILE_SLURM_MAX_ARRAY_SIZE": "50", "CFCOMPILE_SLURM_MAX_SUBMIT_JOBS": "120"}
SITE = ("--submit", "slurm", "--account", "root")

SWEEP = {
    **CHAIN,
    "params/sweep.py": """
        from params import Params

        def get_params():
            return [Params(name=f"s{i}", x=i) for i in range(500)]
    """,
}
OVERRUN = {
    "experiments/overrun.py": """
        import time

        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["slept"], cachers=[JsonCacher])
        def slow(record):
            time.sleep(95)  # past a 1-minute limit (Slurm kills within 30 s of it), within 2
            return 95


        def run(param_sets, manager):
            for p in param_sets:
                slow(cf.Record(manager, p))
    """,
    "params/__init__.py": "",
    "params/one.py": """
        import cfcompile as cf

        def get_params():
            return [cf.ExperimentParameters(name="only")]
    """,
}
HOG = {
    "experiments/hog.py": """
        import time

        import cfcompile as cf
        from cfcompile.caching import JsonCacher


        @cf.stage(outputs=["n"], cachers=[JsonCacher], resources={"mem_mb": 2000})
        def hog(record):
            block = bytearray(60 * 1024 * 1024)  # 60 MB, touched: MaxRSS sees it
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(3)  # Slurm samples every second: a shorter step reports no MaxRSS
            return len(block)


        def run(param_sets, manager):
            for p in param_sets:
                hog(cf.Record(manager, p))
    """,
    "params/__init__.py": """
        from dataclasses import dataclass

        import cfcompile as cf


        @dataclass
        class Params(cf.ExperimentParameters):
            x: int = 0
    """,
    "params/three.py": """
        from params import Params

        def get_params():
            return [Params(name=f"h{i}", x=i) for i in range(3)]
    """,
}


def cluster_up(env: dict) -> str:
    proc = subprocess.run(
        ["bash", str(CLUSTER), "up"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def strict(slurm_cluster, tmp_path_factory):
    if not slurm_cluster["up"]:
        pytest.skip(f"no Slurm cluster here: {slurm_cluster['reason']}")
    plain = {k: "" for k in STRICT}
    out = cluster_up(STRICT)
    assert "MaxArraySize=50 MaxSubmitJobs=120" in out
    root = write_project(tmp_path_factory.mktemp("overrun") / "proj", OVERRUN)
    proc = run_cli("overrun", "-p", "one", *SITE, "--time", "1", cwd=root)
    yield {"overrun": root, "overrun_ids": submitted_ids(proc.stdout)}
    squeue = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
    subprocess.run(["scancel", *squeue.stdout.split()], check=False)
    cluster_up(plain)  # Slurm's defaults again for whatever runs next


def project_at(tmp_path: Path, files: dict, name: str) -> Path:
    return write_project(tmp_path / name, files)


def outside_slurm(root: Path) -> list[str]:
    """Processes that name the project but run outside a Slurm job: the login node's share."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(root) not in cmd:
            continue
        chain, p = [], pid
        while p not in ("0", "1"):
            try:
                stat = Path(f"/proc/{p}/stat").read_text()
            except OSError:
                break
            chain.append(stat[stat.index("(") + 1 : stat.rindex(")")])
            p = stat[stat.rindex(")") + 2 :].split()[1]
        if "slurmstepd" not in chain:
            found.append(cmd)
    return found


def test_a_500_set_sweep_with_batch_1_fits_the_limits_and_completes(strict, tmp_path):
    root = project_at(tmp_path, SWEEP, "batch1")
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    preview = run_cli("chain", "-p", "sweep", *SITE, "--batch", "1", "--dry-run", cwd=root, env=env)
    assert "--array=0-49 " in preview.stdout and "nothing submitted" in preview.stderr
    assert not (root / ".cfcompile" / "chain" / "submissions.json").exists()
    proc = run_cli("chain", "-p", "sweep", *SITE, "--batch", "1", cwd=root, env=env)
    # 500 chains do not fit 120 jobs (with the overrunning task and its retry job queued):
    # packing says so and puts several chains in a task
    assert "MaxSubmitJobs of association root/root is 120" in proc.stderr
    assert "chains per task instead of 1" in proc.stderr
    assert outside_slurm(root) == []  # submitted and gone: nothing stays on the login node
    ids = submitted_ids(proc.stdout)
    tasks = submitted_tasks(proc.stdout)  # the arrays' tasks and the retry job
    assert tasks <= 120
    states = wait_for(ids, tasks=tasks, timeout=600)
    assert set(states.values()) == {"COMPLETED"}, states
    log = (tmp_path / "log").read_text().splitlines()
    assert sorted(log) == sorted([f"first s{i}" for i in range(500)]
                                 + [f"second s{i}" for i in range(500)] + ["total"])  # fmt: skip
    total = next((root / "data" / "cache").glob("chain_*_total_total.json"))
    assert json.loads(total.read_text()) == sum(11 * i for i in range(500))
    status = run_cli("chain", "-p", "sweep", "--status", cwd=root, env=env).stdout
    assert "totals: done 1001" in status
    assert "Slurm usage per stage" in status and "MaxRSS" in status


def test_the_default_packing_sizes_tasks_for_the_cluster_and_completes(strict, tmp_path):
    root = project_at(tmp_path, SWEEP, "auto")
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    proc = run_cli("chain", "-p", "sweep", *SITE, cwd=root, env=env)
    # never run: 60 s assumed a stage, so 5 chains of 2 stages make a 10-minute task
    assert "5 chain(s) per task make tasks of about 10 min" in proc.stderr
    ids = submitted_ids(proc.stdout)
    states = wait_for(ids, tasks=100 + 1 + 1, timeout=600)  # and the aggregate, the retry job
    assert set(states.values()) == {"COMPLETED"}, states
    assert len((tmp_path / "log").read_text().splitlines()) == 1001
    status = run_cli("chain", "-p", "sweep", "--status", cwd=root, env=env).stdout
    assert "totals: done 1001" in status


def test_fit_resources_lowers_an_over_declared_memory_request(strict, tmp_path):
    root = project_at(tmp_path, HOG, "hog")
    first = run_cli("hog", "-p", "three", *SITE, "--batch", "1", cwd=root)
    ids = submitted_ids(first.stdout)
    assert set(wait_for(ids, tasks=4).values()) == {"COMPLETED"}
    asked = subprocess.run(["sacct", "-n", "-P", "-X", "-j", ids[0], "-o", "ReqMem"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert set(asked) == {"2000M"}
    status = run_cli("hog", "-p", "three", "--status", cwd=root).stdout
    assert "--fit-resources would ask for: hog" in status
    again = run_cli("hog", "-p", "three", *SITE, "--batch", "1", "--overwrite", "--fit-resources",
                    cwd=root)  # fmt: skip
    line = next(ln for ln in again.stderr.splitlines() if "--fit-resources: hog" in ln)
    fitted = int(line.split("-> ")[1].split()[0])
    assert "2000 -> " in line and 60 < fitted < 1000, line  # p95 peak x 1.5, not 2000
    ids = submitted_ids(again.stdout)
    assert set(wait_for(ids, tasks=4).values()) == {"COMPLETED"}
    asked = subprocess.run(["sacct", "-n", "-P", "-X", "-j", ids[0], "-o", "ReqMem"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert set(asked) == {f"{fitted}M"}


def test_a_requeued_task_is_shown_as_such_and_cancel_stops_the_rest(strict, tmp_path):
    files = {**CHAIN}
    files["experiments/chain.py"] = CHAIN["experiments/chain.py"].replace(
        '_log(f"first {record.params.name}")',
        '_log(f"first {record.params.name}")\n    import time\n    time.sleep(8)',
    )
    root = project_at(tmp_path, files, "requeue")
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    proc = run_cli("chain", "-p", "few", *SITE, "--batch", "1", cwd=root, env=env)
    chains, agg, retry = submitted_ids(proc.stdout)
    task = f"{chains}_1"
    deadline = time.time() + 120
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", task, "-o", "%T"], capture_output=True,
                               text=True).stdout.strip()  # fmt: skip
        if state == "RUNNING":
            break
        time.sleep(1)
    # what Slurm does to a task on a failed node or preempted: the same task, run again
    subprocess.run(["scontrol", "requeue", task], check=True)
    # not in the second Slurm revoked its credential: slurmd kills such a start as
    # "Job credential revoked" (FAILED); tests/slurm/test_long_stages.py waits 3 s too
    time.sleep(4)
    subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=False)
    wait_for([chains, agg, retry], tasks=5, timeout=300)
    status = run_cli("chain", "-p", "few", "--status", cwd=root, env=env).stdout
    assert "totals: done 7" in status
    assert "retried or requeued: 2 node(s)" in status  # both nodes of the requeued task
    assert "requeued by Slurm (earlier attempts: REQUEUED)" in status

    slow = run_cli("chain", "-p", "few", *SITE, "--batch", "1", "--overwrite", cwd=root, env=env)
    ids = submitted_ids(slow.stdout)
    cancelled = run_cli("chain", "-p", "few", "--cancel", cwd=root, env=env)
    assert "cancelled" in cancelled.stderr and ids[-1] in cancelled.stderr  # the retry job too
    deadline = time.time() + 60
    while time.time() < deadline:  # cancelled tasks are COMPLETING (CG) for a moment
        queued = subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True,
                                text=True).stdout  # fmt: skip
        if not queued.strip():
            break
        time.sleep(1)
    assert queued.strip() == ""
    states = sacct_states(ids)
    assert "CANCELLED" in " ".join(states.values()), states
    again = run_cli("chain", "-p", "few", "--cancel", cwd=root, env=env)
    assert "nothing of this workflow is queued or running" in again.stderr


def test_a_task_that_ran_out_of_time_was_retried_with_twice_the_time(strict):
    root, ids = strict["overrun"], strict["overrun_ids"]
    array, retry = ids
    wait_for([array, retry], tasks=2, timeout=400)
    sub = json.loads((root / ".cfcompile" / "overrun" / "submissions.json").read_text())
    again = [a for a in sub if a.get("retry_of")]
    assert len(again) == 1 and again[0]["retry_of"]["state"] == "TIMEOUT"
    new = again[0]["array"]
    states = wait_for([array, retry, new], tasks=3, timeout=400)
    # an array of one task is one job to sacct: look each up by its array's id
    ran = {job: next(s for t, s in states.items() if t.split("_")[0] == job) for job in ids}
    assert ran == {array: "TIMEOUT", retry: "COMPLETED"}, states
    assert next(s for t, s in states.items() if t.split("_")[0] == new) == "COMPLETED", states
    limit = subprocess.run(["sacct", "-n", "-P", "-X", "-j", new, "-o", "Timelimit"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert limit == ["00:02:00"]
    status = run_cli("overrun", "-p", "one", "--status", cwd=root).stdout
    assert "totals: done 1" in status
    assert "after TIMEOUT, twice the time (1 -> 2 min)" in status
    # it was warned like every task (a quarter of its minute), but it has no checkpoint
    scripts = (root / ".cfcompile" / "overrun" / "submitit").glob(f"{array}*/*_submission.sh")
    assert "#SBATCH --signal=USR2@15" in next(scripts).read_text().splitlines()
    assert "long stages" not in status
    assert json.loads(next((root / "data" / "cache").glob("overrun_*_slow_slept.json"))
                      .read_text()) == 95  # fmt: skip
