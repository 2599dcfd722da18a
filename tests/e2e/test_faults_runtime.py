"""Runtime faults with real processes and real signals.

A stage's time limit must hold against a body that swallows exceptions, and a SIGTERM (Slurm's
time limit, scancel) or SIGKILL in the middle of a save must not leave staging folders behind
for ever. Every test here runs the eager runner, the job runtime or ``execute`` in a child
process and signals it with ``os.kill``: in-process fakes would not show what the kernel does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import CHAIN, run_cli

from cfcompile.compiler.plan import CacheView
from cfcompile.core import timelimit
from cfcompile.core.transaction import STAGING_PREFIX
from cfcompile.core.workdir import NodeStore, current_version, load_failure

PARAMS = {path: text for path, text in CHAIN.items() if path.startswith("params/")}

SLOW_SAVE = """
    import os
    import time

    import cfcompile as cf
    from cfcompile.caching import JsonCacher


    class SlowCacher(JsonCacher):
        \"\"\"Writes its (staged) file, says so, then waits: a save a signal can interrupt.\"\"\"

        def save(self, obj):
            path = super().save(obj)
            with open(os.environ["SAVE_STARTED"], "w") as f:
                f.write(path)
            time.sleep(60)
            return path


    @cf.stage(outputs=["out"], cachers=[SlowCacher])
    def produce(record):
        return {"x": record.params.x}


    def run(param_sets, manager):
        for p in param_sets:
            produce(cf.Record(manager, p))
"""

BROAD = """
    import time

    import cfcompile as cf
    from cfcompile.caching import JsonCacher


    @cf.stage(outputs=["out"], cachers=[JsonCacher], timeout=2)
    def work(record):
        end = time.time() + 20  # bounded, so that a broken time limit shows as a slow success
        while time.time() < end:
            try:
                time.sleep(0.05)
            except Exception:  # a retry loop that swallows every error
                continue
        return {"x": record.params.x}


    def run(param_sets, manager):
        for p in param_sets:
            work(cf.Record(manager, p))
"""

SWALLOW_TWICE = """
    import os
    import time

    import cfcompile as cf
    from cfcompile.caching import JsonCacher


    @cf.stage(outputs=["out"], cachers=[JsonCacher], timeout=2)
    def work(record):
        swallowed = 0
        end = time.time() + 20
        while time.time() < end:
            try:
                time.sleep(0.05)
            except BaseException:
                swallowed += 1
                with open(os.environ["SWALLOWED"], "a") as f:
                    f.write(f"{time.time()}\\n")
                if swallowed == 3:
                    raise
        return {"x": record.params.x}


    def run(param_sets, manager):
        for p in param_sets:
            work(cf.Record(manager, p))
"""

OUTLIVE = """
    import time

    import cfcompile as cf
    from cfcompile.caching import JsonCacher


    @cf.stage(outputs=["out"], cachers=[JsonCacher], timeout=1)
    def work(record):
        end = time.time() + 3.5
        while time.time() < end:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
        return {"x": record.params.x}  # returns normally, 2.5 s past its limit


    def run(param_sets, manager):
        for p in param_sets:
            work(cf.Record(manager, p))
"""

STUBBORN = """
    import time

    import cfcompile as cf
    from cfcompile.caching import JsonCacher


    @cf.stage(outputs=["out"], cachers=[JsonCacher], timeout=2)
    def work(record):
        end = time.time() + 40
        while time.time() < end:
            try:
                time.sleep(0.05)
            except BaseException:  # swallows even the repeated StageTimeout
                pass
        return {"x": record.params.x}


    def run(param_sets, manager):
        for p in param_sets:
            work(cf.Record(manager, p))
"""

REWRAP = """
    import time

    import cfcompile as cf
    from cfcompile.caching import JsonCacher


    @cf.stage(outputs=["out"], cachers=[JsonCacher], timeout=1)
    def work(record):
        try:
            time.sleep(20)
        except BaseException as exc:  # a library that wraps whatever interrupts it
            raise RuntimeError("gave up") from exc
        return {"x": record.params.x}


    def run(param_sets, manager):
        for p in param_sets:
            work(cf.Record(manager, p))
"""

FAULTS = {
    **PARAMS,
    "experiments/slowsave.py": SLOW_SAVE,
    "experiments/broad.py": BROAD,
    "experiments/twice.py": SWALLOW_TWICE,
    "experiments/outlive.py": OUTLIVE,
    "experiments/stubborn.py": STUBBORN,
    "experiments/rewrap.py": REWRAP,
}


# -- helpers ---------------------------------------------------------------------------------
def start(cmd: list[str], cwd: Path, log: Path, **env: str) -> subprocess.Popen:
    """A child Python process; stdout and stderr go to ``log`` (no pipe that could fill up)."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, *cmd],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )


def eager(root: Path, experiment: str, name: str, log: Path, **env: str) -> subprocess.Popen:
    args = ["-m", "cfcompile.cli", experiment, "-p", "few", "--names", name, "--eager"]
    return start(args, root, log, **env)


def compiled_job(root: Path, experiment: str, name: str, log: Path, **env: str):
    """Compile one parameter set, then start the real job runtime on its one node."""
    run_cli(experiment, "-p", "few", "--names", name, cwd=root)
    workdir = root / ".cfcompile" / experiment
    version = current_version(str(workdir))
    (node,) = NodeStore(version).nodes()
    cmd = [
        "-m",
        "cfcompile.runtime.job_runner",
        version,
        "--stage",
        node.stage,
        "--hash",
        node.hash,
    ]
    return start(cmd, root, log, **env), workdir, node


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited {proc.returncode} before {path.name} appeared")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {seconds} s")
        time.sleep(0.05)


def finish(proc: subprocess.Popen, log: Path, seconds: float = 60) -> tuple[int, float, str]:
    """Wait for the child; (return code, seconds it took from now, its output)."""
    t0 = time.monotonic()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise AssertionError(f"child still running after {seconds} s:\n{log.read_text()}") from exc
    return proc.returncode, time.monotonic() - t0, log.read_text()


def staging_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX))


def outputs(cache: Path) -> list[str]:
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.iterdir() if p.is_file())


# -- 1. time limits a stage body cannot swallow ----------------------------------------------
def test_broad_except_cannot_swallow_timeout_eager(project, tmp_path):
    """``except Exception: continue`` around the work used to run to its end and succeed."""
    root = project(FAULTS)
    log = tmp_path / "eager.log"
    t0 = time.monotonic()
    code, _, out = finish(eager(root, "broad", "s0", log), log)
    took = time.monotonic() - t0
    assert code != 0 and "StageTimeout" in out and "time limit of 2 s" in out, out
    assert took < 2 + timelimit.HARD_GRACE + 3, f"took {took:.1f} s (incl. start-up)"
    assert not [n for n in outputs(root / "data" / "cache") if "_work_" in n]


def test_broad_except_cannot_swallow_timeout_job(project, tmp_path):
    """The same body in the job runtime: fails fast, recorded as a timeout, nothing published."""
    root = project(FAULTS)
    log = tmp_path / "job.log"
    proc, workdir, node = compiled_job(root, "broad", "s0", log)
    code, took, out = finish(proc, log)
    assert code != 0, out
    assert took < 2 + timelimit.HARD_GRACE + 2, f"took {took:.1f} s (incl. start-up)"
    failure = load_failure(str(workdir), node.id)
    assert failure and failure["kind"] == "timeout", failure
    assert "time limit of 2 s" in failure["message"]
    assert not any(os.path.exists(o["path"]) for o in node.outputs)


def test_timeout_raised_again_every_second_until_the_stage_ends(project, tmp_path):
    """A body that catches BaseException twice meets a third StageTimeout about a second later."""
    root = project(FAULTS)
    log, swallowed = tmp_path / "eager.log", tmp_path / "swallowed"
    t0 = time.monotonic()
    code, _, out = finish(eager(root, "twice", "s0", log, SWALLOWED=str(swallowed)), log)
    took = time.monotonic() - t0
    assert code != 0 and "StageTimeout" in out, out
    times = [float(t) for t in swallowed.read_text().split()]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.5 < g < 2 for g in gaps), gaps
    assert took < 2 + 2 * timelimit.REPEAT_EVERY + 3, f"took {took:.1f} s"


def test_error_after_a_swallowed_timeout_is_reported_as_timeout(project, tmp_path):
    """A body that turns the StageTimeout into its own error failed because of its time limit."""
    root = project(FAULTS)
    log = tmp_path / "job.log"
    proc, workdir, node = compiled_job(root, "rewrap", "s0", log)
    code, _, out = finish(proc, log)
    assert code != 0 and "RuntimeError: gave up" in out, out
    failure = load_failure(str(workdir), node.id)
    assert failure and failure["kind"] == "timeout", failure


def test_stage_returning_after_its_limit_counts_as_timed_out(project, tmp_path):
    """Swallowing every StageTimeout and returning late is still a timeout, never a result."""
    root = project(FAULTS)
    log = tmp_path / "eager.log"
    code, _, out = finish(eager(root, "outlive", "s0", log), log)
    assert code != 0 and "StageTimeout" in out and "time limit of 1 s" in out, out
    assert not [n for n in outputs(root / "data" / "cache") if "_work_" in n]


HARD_STOP = """
import sys, time
from cfcompile.core.timelimit import call_with_timeout

def body():
    end = time.time() + 40
    while time.time() < end:
        try:
            {work}
        except BaseException:
            pass
    print("body ended by itself", flush=True)

def on_hard_timeout(exc):
    with open(sys.argv[1], "w") as f:
        f.write(str(exc))

call_with_timeout(1, body, "stage 'x' (s0)", on_hard_timeout=on_hard_timeout, grace=1.5)
print("call_with_timeout returned", flush=True)
"""


def test_hard_timeout_ends_the_process_after_the_grace(tmp_path):
    """A body that swallows even BaseException: the watchdog records, then ends the process."""
    log, record = tmp_path / "out.log", tmp_path / "record"
    script = HARD_STOP.format(work="time.sleep(0.05)")
    t0 = time.monotonic()
    code, _, out = finish(start(["-c", script, str(record)], tmp_path, log), log)
    took = time.monotonic() - t0
    assert code == timelimit.HARD_TIMEOUT_EXIT, out
    assert 2.5 <= took < 2.5 + 4, f"took {took:.1f} s (incl. start-up)"
    assert "time limit of 1 s" in record.read_text()
    assert "body ended by itself" not in out and "returned" not in out


def test_hard_timeout_when_native_code_holds_the_gil(tmp_path):
    """Native code holding the GIL runs no Python handler or thread: faulthandler ends it."""
    log, record = tmp_path / "out.log", tmp_path / "record"
    script = HARD_STOP.format(work='__import__("ctypes").PyDLL(None).system(b"sleep 15")')
    t0 = time.monotonic()
    code, _, out = finish(start(["-c", script, str(record)], tmp_path, log), log)
    took = time.monotonic() - t0
    assert code != 0 and "Timeout" in out, out
    assert took < 1 + 2 * 1.5 + 3, f"took {took:.1f} s"
    assert "returned" not in out


def test_job_hard_timeout_writes_failure_record_and_exits(project, tmp_path):
    root = project(FAULTS)
    log = tmp_path / "job.log"
    proc, workdir, node = compiled_job(root, "stubborn", "s0", log)
    code, took, out = finish(proc, log)
    assert code == timelimit.HARD_TIMEOUT_EXIT, out
    assert took < 2 + timelimit.HARD_GRACE + 4, f"took {took:.1f} s"
    failure = load_failure(str(workdir), node.id)
    assert failure and failure["kind"] == "timeout" and "time limit of 2 s" in failure["message"]
    assert not any(os.path.exists(o["path"]) for o in node.outputs)


def test_time_limit_restores_previous_handler_and_timer():
    """An outer SIGALRM user (pytest-timeout, a researcher's own alarm) keeps its handler and
    the rest of its timer; the old code cancelled the outer timer."""
    fired: list[int] = []
    outer = signal.signal(signal.SIGALRM, lambda s, f: fired.append(s))
    outer_timer = signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        assert timelimit.call_with_timeout(5, lambda: 42, "stage 'x'") == 42
        handler = signal.getsignal(signal.SIGALRM)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert handler is not None and not isinstance(handler, int)
        assert handler.__code__.co_name == "<lambda>"
        assert 90 < remaining <= 100
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, *outer_timer)
        signal.signal(signal.SIGALRM, outer)


# -- 2. SIGTERM and SIGKILL during a save ----------------------------------------------------
def test_sigterm_during_save_removes_staging_job(project, tmp_path):
    root = project(FAULTS)
    log, started = tmp_path / "job.log", tmp_path / "started"
    proc, workdir, node = compiled_job(root, "slowsave", "s0", log, SAVE_STARTED=str(started))
    wait_for(started, proc)
    cache = root / "data" / "cache"
    assert staging_dirs(cache), "the save should be writing into a staging folder"
    os.kill(proc.pid, signal.SIGTERM)
    code, _, out = finish(proc, log)
    assert code in (-signal.SIGTERM, 128 + signal.SIGTERM), out
    assert staging_dirs(cache) == []
    assert not any(os.path.exists(o["path"]) for o in node.outputs)


def test_sigterm_during_save_job_records_failure(project, tmp_path):
    root = project(FAULTS)
    log, started = tmp_path / "job.log", tmp_path / "started"
    proc, workdir, node = compiled_job(root, "slowsave", "s0", log, SAVE_STARTED=str(started))
    wait_for(started, proc)
    os.kill(proc.pid, signal.SIGTERM)
    code, _, out = finish(proc, log)
    assert code == 128 + signal.SIGTERM, out
    failure = load_failure(str(workdir), node.id)
    assert failure and failure["kind"] == "error" and "SIGTERM" in failure["message"]
    assert staging_dirs(root / "data" / "cache") == []


def test_sigterm_during_save_removes_staging_eager(project, tmp_path):
    """In process (like curifactory): clean up, then die of SIGTERM as the process would have."""
    root = project(FAULTS)
    log, started = tmp_path / "eager.log", tmp_path / "started"
    proc = eager(root, "slowsave", "s0", log, SAVE_STARTED=str(started))
    wait_for(started, proc)
    os.kill(proc.pid, signal.SIGTERM)
    code, _, out = finish(proc, log)
    assert code == -signal.SIGTERM, out
    cache = root / "data" / "cache"
    assert staging_dirs(cache) == [] and outputs(cache) == []


def test_sigkill_leftovers_swept_only_when_owner_is_dead_here(project, tmp_path):
    """kill -9 cannot be cleaned up by the victim: the next run removes its staging folder,
    but never one of a live process, of another host, or of an unknown (older) format."""
    from cfcompile.core.transaction import staging_owner, sweep_stale_staging

    root = project(FAULTS)
    cache = root / "data" / "cache"
    started0, started1 = tmp_path / "started0", tmp_path / "started1"
    victim = eager(root, "slowsave", "s0", tmp_path / "s0.log", SAVE_STARTED=str(started0))
    alive = eager(root, "slowsave", "s1", tmp_path / "s1.log", SAVE_STARTED=str(started1))
    try:
        wait_for(started0, victim)
        wait_for(started1, alive)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        by_owner = {staging_owner(p.name)[1]: p for p in staging_dirs(cache)}
        assert set(by_owner) == {victim.pid, alive.pid}
        dead = by_owner[victim.pid]
        (staged_name,) = os.listdir(dead)
        final = str(cache / staged_name)
        assert CacheView().staged(final), "the planner must still see the interrupted save"

        host = staging_owner(dead.name)[0]
        elsewhere = cache / f"{STAGING_PREFIX}not-{host}-{victim.pid}-0123456789ab"
        legacy = cache / f"{STAGING_PREFIX}deadbeef0123"
        for keep in (elsewhere, legacy):
            keep.mkdir()
            (keep / "file").write_text("x")

        assert sweep_stale_staging(str(cache)) == [str(dead)]
        assert not dead.exists()
        assert by_owner[alive.pid].exists() and elsewhere.exists() and legacy.exists()
        assert not CacheView().staged(final)
        assert sweep_stale_staging(str(cache)) == []  # nothing more to do
        assert sweep_stale_staging(str(tmp_path / "no such folder")) == []

        os.kill(alive.pid, signal.SIGTERM)  # the live one cleans up after itself
        assert alive.wait(timeout=30) == -signal.SIGTERM
        assert sorted(staging_dirs(cache)) == sorted([elsewhere, legacy])
    finally:
        for proc in (victim, alive):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
