"""The test cluster's GPUs and preemption, checked on the real cluster (tests/slurm/cluster.sh).

What the GPU and checkpoint/requeue features will rely on, as Slurm 22.05 does it here
(docs/slurm-test-cluster.md has the numbers):

- GPUs: 2 fake GPUs of type ``fake`` (character devices), ``--gres=gpu:N``, ``--gpus=[fake:]N``
  and ``--cpus-per-gpu``; Slurm sets CUDA_VISIBLE_DEVICES; sacct's AllocTRES counts gres/gpu.
- Preemption: a ``high`` partition preempts jobs of the ``low`` one (GraceTime=10, requeue);
  ``debug``, the default, is never preempted. A ``--signal=B:USR1@N`` job is sent USR1 at
  once when preempted (``preempt_send_user_signal``); a batch script gets SIGTERM only when the
  grace time is over. Requeued jobs wait 121 s (Reason=BeginTime); the tests move them on
  with ``scontrol update JobId=... StartTime=now``.

The job of the time-limit signal test runs from the first test on, beside the others (it
needs about a minute); the preemption test, which fills the node, comes last.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

NO_SUCH_NODE = (
    "sbatch: error: Batch job submission failed: Requested node configuration is not available"
)
CPUS_PER_GPU_AND_TASK = [  # refused by sbatch itself, before asking slurmctld
    "sbatch: error: --cpus-per-gpu is mutually exclusive with --cpus-per-task",
    "sbatch: error: Invalid generic resource (gres) specification",
]
REQUEUE_DISABLED = "Requested operation is presently disabled for job"

# A job holding its GPUs: writes what Slurm gave it to $1, then waits for the file $2.
GPU_JOB = """#!/bin/bash
echo "CVD=${CUDA_VISIBLE_DEVICES-unset} GPUS=${SLURM_GPUS-} JOB_GPUS=${SLURM_JOB_GPUS-}\
 CPUS_PER_GPU=${SLURM_CPUS_PER_GPU-} CPUS_ON_NODE=${SLURM_CPUS_ON_NODE-}" > "$1.tmp"
mv "$1.tmp" "$1"
while [ -n "${2-}" ] && [ ! -e "$2" ]; do sleep 0.2; done
"""

# Logs (time, event) lines to $1: its start, USR1 and TERM; exits on TERM (a checkpointing
# job would save first) and at once when run again after a requeue.
PREEMPTEE = """#!/bin/bash
LOG=$1
log() { echo "$(date +%s.%N) $*" >> "$LOG"; }
log "start restart=${SLURM_RESTART_COUNT-none}"
if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then log resumed; exit 0; fi
trap 'log USR1' USR1
trap 'log TERM; exit 0' TERM
for i in $(seq 300); do sleep 1; done
log "not stopped"
"""

# Requeues itself on its first run (an array task as ARRAYJOBID_TASKID), then works $2 seconds;
# logs to $1 (to $1.TASKID for an array task).
REQUEUER = """#!/bin/bash
LOG=$1${SLURM_ARRAY_TASK_ID:+.$SLURM_ARRAY_TASK_ID}
log() { echo "$(date +%s.%N) $*" >> "$LOG"; }
ID=$SLURM_JOB_ID
[ -n "${SLURM_ARRAY_JOB_ID-}" ] && ID=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
echo "stdout of run ${SLURM_RESTART_COUNT:-0}"
log "start id=$ID restart=${SLURM_RESTART_COUNT-none}"
if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then log resumed; exit 0; fi
trap 'log TERM; stop=1' TERM
out=$(scontrol requeue "$ID" 2>&1); rc=$?
log "requeue rc=$rc${out:+ $out}"
for i in $(seq "$2"); do [ -n "${stop-}" ] && exit 0; sleep 1; done
log "not stopped"
"""

# Exits on USR1 (sent ahead of the time limit by --signal=B:USR1@60).
WARNED = """#!/bin/bash
LOG=$1
log() { echo "$(date +%s.%N) $*" >> "$LOG"; }
log start
trap 'log USR1; exit 0' USR1
trap 'log TERM; exit 0' TERM
for i in $(seq 300); do sleep 1; done
"""


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def sbatch(tmp: Path, script: str, *opts: str, args: tuple = (), name: str = "job") -> str:
    path = tmp / f"{name}.sh"
    path.write_text(script)
    proc = run(
        "sbatch",
        "--parsable",
        "--mem=100",
        f"--output={tmp}/{name}-%j.out",
        *opts,
        str(path),
        *map(str, args),
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def refused(*opts: str) -> str:
    """sbatch's stderr for a request it must refuse (nothing is queued)."""
    proc = run("sbatch", "--parsable", "--mem=100", *opts, "--wrap", "true")
    if proc.returncode == 0:
        run("scancel", proc.stdout.strip())
    assert proc.returncode == 1, (opts, proc.stdout, proc.stderr)
    return proc.stderr.strip()


def state(job: str) -> str:
    return run("squeue", "-h", "-t", "all", "-j", job, "-o", "%T").stdout.strip()


def show(job: str) -> dict[str, str]:
    out = run("scontrol", "-o", "show", "job", job).stdout
    return dict(w.split("=", 1) for w in out.split() if "=" in w)


def runs(job: str) -> list[str]:
    """States of every run of a job (or array task) in sacct, oldest first (-D: requeued runs)."""
    array = job.split("_")[0]
    out = run("sacct", "-n", "-P", "-X", "-D", "-j", array, "-o", "JobID,State").stdout
    return [s.split()[0] for j, s in (line.split("|") for line in out.splitlines()) if j == job]


def wait_runs(job: str, want: list[str], timeout: float = 20) -> None:
    """sacct lags squeue by a few seconds."""
    wait(f"{job}'s runs {want} (now {runs(job)})", lambda: runs(job) == want, timeout)


def wait(what: str, check, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"not {what} after {timeout} s")


def wait_state(job: str, want: str, timeout: float = 60) -> None:
    wait(f"{job} {want} (now {state(job)})", lambda: state(job) == want, timeout)


def events(log: Path) -> list[tuple[float, str]]:
    if not log.exists():
        return []
    return [(float(t), e) for t, e in (line.split(" ", 1) for line in log.read_text().splitlines())]


def first(log: Path, event: str) -> float:
    return next(t for t, e in events(log) if e.startswith(event))


def wait_idle(timeout: float = 150) -> None:
    """No job running or pending on the cluster (the preemption test needs the whole node)."""
    wait("idle", lambda: not run("squeue", "-h", "-t", "PD,R,CG,S").stdout.strip(), timeout)


def gpus_seen(out: Path) -> dict[str, str]:
    return dict(w.split("=", 1) for w in out.read_text().split())


def started(out: Path) -> dict[str, str]:
    return gpus_seen(out) if out.exists() else {}


@pytest.fixture(scope="module")
def usr1_job(slurm_cluster, tmp_path_factory):
    """A 2-minute job asking USR1 60 s before its limit, started before the other tests."""
    if not slurm_cluster["up"]:
        pytest.skip(f"no Slurm cluster here: {slurm_cluster['reason']}")
    tmp = tmp_path_factory.mktemp("usr1")
    job = sbatch(tmp, WARNED, "--time=2", "--signal=B:USR1@60", args=(tmp / "log",), name="warned")
    yield job, tmp / "log"
    run("scancel", job)


# ---------------------------------------------------------------- A: GPUs


def test_gpu_jobs_get_their_own_device_and_a_third_waits(slurm, usr1_job, tmp_path):
    release = tmp_path / "release"
    jobs = {
        k: sbatch(tmp_path, GPU_JOB, opt, args=(tmp_path / k, release), name=k)
        for k, opt in (("gres", "--gres=gpu:1"), ("gpus", "--gpus=1"))
    }
    try:
        seen = {k: wait(f"{k} started", lambda k=k: started(tmp_path / k)) for k in jobs}
        devices = sorted(s["CVD"] for s in seen.values())
        assert devices == ["0", "1"], seen  # Slurm set CUDA_VISIBLE_DEVICES, one device each
        assert seen["gres"]["JOB_GPUS"] == seen["gres"]["CVD"]
        assert seen["gpus"]["GPUS"] == "1"
        third = sbatch(tmp_path, GPU_JOB, "--gpus=1", args=(tmp_path / "third", release), name="t")
        jobs["third"] = third
        time.sleep(2)
        assert state(third) == "PENDING" and show(third)["Reason"] == "Resources"
        release.touch()
        wait("the third started", lambda: started(tmp_path / "third"))
        assert gpus_seen(tmp_path / "third")["CVD"] in ("0", "1")
        for job in jobs.values():
            wait_state(job, "COMPLETED", 30)
    finally:
        release.touch()
        run("scancel", *jobs.values())


def test_more_gpus_than_the_node_has_or_an_unknown_type_is_refused_at_submission(slurm):
    assert refused("--gpus=3") == NO_SUCH_NODE
    assert refused("--gres=gpu:3") == NO_SUCH_NODE
    assert refused("--gpus=fake:3") == NO_SUCH_NODE
    assert refused("--gpus=v100:1") == NO_SUCH_NODE  # a type the cluster does not have
    assert refused("--gpus=1", "--cpus-per-gpu=5") == NO_SUCH_NODE  # the node has 4 CPUs


def test_typed_gpus_and_cpus_per_gpu(slurm, tmp_path):
    typed = sbatch(tmp_path, GPU_JOB, "--gpus=fake:1", args=(tmp_path / "typed",), name="typed")
    per_gpu = sbatch(
        tmp_path,
        GPU_JOB,
        "--gpus=1",
        "--cpus-per-gpu=2",
        args=(tmp_path / "per_gpu",),
        name="per_gpu",
    )
    both = refused("--gpus=1", "--cpus-per-gpu=2", "--cpus-per-task=2")
    assert both.splitlines() == CPUS_PER_GPU_AND_TASK
    for job in (typed, per_gpu):
        wait_state(job, "COMPLETED", 30)
    assert gpus_seen(tmp_path / "typed")["CVD"] in ("0", "1")
    assert gpus_seen(tmp_path / "typed")["GPUS"] == "fake:1"
    got = gpus_seen(tmp_path / "per_gpu")
    assert got["CPUS_PER_GPU"] == "2" and got["CPUS_ON_NODE"] == "2", got
    assert show(per_gpu)["NumCPUs"] == "2"


def test_sacct_reports_the_gpus_a_finished_job_had(slurm, tmp_path):
    job = sbatch(tmp_path, GPU_JOB, "--gres=gpu:fake:2", args=(tmp_path / "two",), name="two")
    wait_state(job, "COMPLETED", 30)

    def alloc():
        out = run("sacct", "-n", "-P", "-X", "-j", job, "-o", "State,AllocTRES,ElapsedRaw").stdout
        return out.strip() if out.startswith("COMPLETED") else ""

    _, tres, elapsed = wait("in sacct", alloc, 30).split("|")
    tres = dict(kv.split("=") for kv in tres.split(","))
    assert tres["gres/gpu"] == "2" and tres["gres/gpu:fake"] == "2", tres
    assert int(elapsed) >= 0  # GPU-hours = gres/gpu x ElapsedRaw / 3600


# ---------------------------------------------------------------- B: requeue and signals


def test_a_job_requeues_itself_and_runs_again_with_a_restart_count(slurm, tmp_path):
    log = tmp_path / "log"
    plain = sbatch(tmp_path, REQUEUER, args=(log, 30), name="plain")  # no --requeue given
    array = sbatch(
        tmp_path,
        REQUEUER,
        "--array=0-1",
        "--open-mode=append",
        args=(tmp_path / "task", 30),
        name="array",
    )
    fixed = sbatch(tmp_path, REQUEUER, "--no-requeue", args=(tmp_path / "fixed", 1), name="fixed")
    tasks = [f"{array}_0", f"{array}_1"]
    logs = {plain: log, tasks[0]: tmp_path / "task.0", tasks[1]: tmp_path / "task.1"}
    try:
        for job, path in logs.items():
            wait(f"{job} requeued", lambda job=job: show(job).get("Reason") == "BeginTime", 30)
            info = show(job)
            assert info["JobState"] == "PENDING" and info["Restarts"] == "1", info
            assert info["Requeue"] == "1"  # JobRequeue=1, Slurm's default: no --requeue needed
            said = [e for _, e in events(path)]  # SIGTERM comes as scontrol returns
            assert said[0] == f"start id={job} restart=none", said
            assert sorted(said[1:3]) == ["TERM", "requeue rc=0"], said
            wait_runs(job, ["REQUEUED", "PENDING"])
        wait_state(fixed, "COMPLETED", 30)  # --no-requeue: refused, the job goes on
        said = [e for _, e in events(tmp_path / "fixed")]
        assert said[1] == f"requeue rc=1 {REQUEUE_DISABLED} {fixed}" and said[2] == "not stopped"
        for job in logs:
            run("scontrol", "update", f"JobId={job}", "StartTime=now")
        for job, path in logs.items():
            wait_state(job, "COMPLETED", 30)
            assert [e for _, e in events(path)][-2:] == [f"start id={job} restart=1", "resumed"]
            wait_runs(job, ["REQUEUED", "COMPLETED"])
        # the run after a requeue starts its output file afresh, unless --open-mode=append
        assert (tmp_path / f"plain-{plain}.out").read_text() == "stdout of run 1\n"
        for task in tasks:
            out = Path(show(task)["StdOut"]).read_text()
            assert out.startswith("stdout of run 0\n") and out.endswith("stdout of run 1\n"), out
    finally:
        run("scancel", plain, array, fixed)


def test_usr1_comes_about_a_minute_before_the_time_limit(slurm, usr1_job):
    job, log = usr1_job
    wait_state(job, "COMPLETED", 150)  # the job exits on USR1
    lead = 120 - (first(log, "USR1") - first(log, "start"))
    # Slurm checks limits every 30 s and sends the signal at the first check within
    # warn time + 30 s of the limit: 60-90 s ahead, never late (71-76 s measured)
    print(f"USR1 came {lead:.1f} s before the 2-minute limit")
    assert 58 <= lead <= 95, lead


def test_a_high_job_preempts_low_jobs_which_are_signalled_requeued_and_run_again(slurm, tmp_path):
    wait_idle()
    release = tmp_path / "release"
    logs = {k: tmp_path / k for k in ("term", "usr1")}
    kept = sbatch(tmp_path, GPU_JOB, "-c", "1", args=(tmp_path / "kept", release), name="kept")
    term = sbatch(tmp_path, PREEMPTEE, "-p", "low", "-c", "2", args=(logs["term"],), name="term")
    usr1 = sbatch(
        tmp_path,
        PREEMPTEE,
        "-p",
        "low",
        "-c",
        "1",
        "--signal=B:USR1@10",
        args=(logs["usr1"],),
        name="usr1",
    )
    high = None
    try:
        for job in (kept, term, usr1):  # the node's 4 CPUs are taken
            wait_state(job, "RUNNING", 30)
        wait("low jobs started", lambda: all(events(p) for p in logs.values()))
        t0 = time.time()
        high = sbatch(tmp_path, "#!/bin/bash\nsleep 1\n", "-p", "high", "-c", "3", name="high")
        wait_state(high, "COMPLETED", 90)
        for job in (term, usr1):
            wait(f"{job} requeued", lambda job=job: show(job).get("Reason") == "BeginTime", 10)
            info = show(job)
            assert info["Restarts"] == "1", info
            wait_runs(job, ["PREEMPTED", "PENDING"])
            # BeginTime: eligible 121 s after the requeue (SubmitTime is reset to it)
            delay = _epoch(info["EligibleTime"]) - _epoch(info["SubmitTime"])
            print(f"{job}: eligible {delay:.0f} s after the requeue")
            assert 100 <= delay <= 200, info
        # preempt_send_user_signal: the --signal job is sent USR1 at once, the other nothing
        assert first(logs["usr1"], "USR1") - t0 < 8
        assert not [e for _, e in events(logs["term"]) if e == "USR1"]
        # both batch scripts get SIGTERM when the grace time (10 s, on a 30 s timer) is over
        grace = first(logs["term"], "TERM") - first(logs["usr1"], "USR1")
        print(
            f"preempted {first(logs['usr1'], 'USR1') - t0:.1f} s after the high job's"
            f" submission, SIGTERM {grace:.1f} s later"
        )
        assert 9 <= grace <= 45, grace
        assert abs(first(logs["usr1"], "TERM") - first(logs["term"], "TERM")) < 3
        assert state(kept) == "RUNNING"  # debug jobs are never preempted
        for job in (term, usr1):
            run("scontrol", "update", f"JobId={job}", "StartTime=now")
        for job, path in ((term, logs["term"]), (usr1, logs["usr1"])):
            wait_state(job, "COMPLETED", 30)
            assert [e for _, e in events(path)][-2:] == ["start restart=1", "resumed"]
            wait_runs(job, ["PREEMPTED", "COMPLETED"])
        release.touch()
        wait_state(kept, "COMPLETED", 30)
    finally:
        release.touch()
        run("scancel", *[j for j in (kept, term, usr1, high) if j])
    wait_idle(60)


def _epoch(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
