"""The warm local runtime: real worker processes, real sockets, real signals.

The client (what Snakemake runs) is started exactly as the Snakefile starts it:
``python -I -S cfcompile/client.py VERSION --stage S --hash H``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from helpers import CHAIN, pipe, run_cli

import cfcompile.runtime.job_client as client
from cfcompile.backends.snakemake.emit import CLIENT
from cfcompile.core.workdir import NodeStore, current_version

PROBE = CHAIN["experiments/chain.py"].replace(
    '_log(f"first {record.params.name}")',
    '_log(f"first {record.params.name}")\n'
    "    import random, json\n"
    '    probe = os.environ.get("PROBE_FILE")\n'
    "    if probe:\n"
    "        with open(probe, 'w') as f:\n"
    "            json.dump({'pid': os.getpid(), 'random': random.random(),\n"
    "                       'cuda': os.environ.get('CUDA_VISIBLE_DEVICES'),\n"
    "                       'slurm': os.environ.get('SLURM_FAKE'),\n"
    "                       'cwd': os.getcwd()}, f)\n"
    '    if os.environ.get("SLEEP_FIRST"):\n'
    "        import time\n"
    '        time.sleep(float(os.environ["SLEEP_FIRST"]))\n'
    '    if os.environ.get("FAIL_FIRST"):\n'
    '        raise ValueError("first failed on purpose")',
)


def compiled(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project({**CHAIN, "experiments/chain.py": PROBE})
    run_cli("chain", "-p", "few", "--batch", "1", cwd=root)
    version = current_version(str(root / ".cfcompile" / "chain"))
    nodes = [n for n in NodeStore(version).nodes() if n.stage == "first"]
    return root, version, nodes


def client_job(root: Path, version: str, node, log: Path, **env: str) -> subprocess.Popen:
    """One job as Snakemake runs it: the client, its output into the node's log file."""
    out = open(log, "w")
    return subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-S",
            CLIENT,  # the path the Snakefile's job command runs
            version,
            "--stage",
            node.stage,
            "--hash",
            node.hash,
        ],
        cwd=root,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )


def worker_pids(root: Path) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-f", "cfcompile.runtime.worker"], capture_output=True, text=True
    )
    pids = []
    for pid in out.stdout.split():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(root) in cmd:
            pids.append(int(pid))
    return pids


def test_nodes_run_in_forked_children_of_one_warm_worker(project, tmp_path, monkeypatch):
    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    seen = []
    for i, node in enumerate(nodes):
        probe = tmp_path / f"probe{i}.json"
        log = tmp_path / f"job{i}.log"
        proc = client_job(
            root, version, node, log, PROBE_FILE=str(probe), CUDA_VISIBLE_DEVICES=f"{i}",
            SLURM_FAKE="x",
        )  # fmt: skip
        assert proc.wait(timeout=120) == 0, log.read_text()
        assert "running" in log.read_text()  # the child's log went into the job's log
        seen.append(json.loads(probe.read_text()))
        assert seen[-1]["pid"] != proc.pid  # not in the client: in a worker's child
    workers = worker_pids(root)
    assert len(workers) >= 1
    assert len({s["pid"] for s in seen}) == len(seen)
    assert len({s["random"] for s in seen}) == len(seen)  # reseeded per child
    assert [s["cuda"] for s in seen] == ["0", "1", "2"] and seen[0]["slurm"] == "x"
    assert seen[0]["cwd"] == str(root)
    sock_dir = Path(client.socket_dir())
    assert stat.S_IMODE(sock_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in sock_dir.glob("*.sock"))


def test_exit_status_and_failure_come_back_through_the_client(project, tmp_path, monkeypatch):
    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    log = tmp_path / "job.log"
    proc = client_job(root, version, nodes[0], log, FAIL_FIRST="1")
    assert proc.wait(timeout=120) == 1
    assert "first failed on purpose" in log.read_text()
    assert worker_pids(root)  # served by the worker, which stays up


def test_killing_the_job_kills_its_child(project, tmp_path, monkeypatch):
    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    probe = tmp_path / "probe.json"
    proc = client_job(
        root, version, nodes[0], tmp_path / "job.log", PROBE_FILE=str(probe), SLEEP_FIRST="60"
    )
    deadline = time.time() + 60
    while not probe.exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.1)
    child = json.loads(probe.read_text())["pid"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.time() + 15
    while Path(f"/proc/{child}").exists():
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:  # it went between the two looks: gone is what the test waits for
            break
        if "State:\tZ" in status:
            break
        assert time.time() < deadline, "the node's child outlived its job"
        time.sleep(0.1)


def edit_probe(root: Path) -> None:
    """The experiment edited after the compile: the probe now also writes ``edited``."""
    exp = root / "experiments" / "chain.py"
    exp.write_text(
        exp.read_text().replace("'cwd': os.getcwd()}", "'cwd': os.getcwd(), 'edited': 1}")
    )
    os.utime(exp, (time.time() + 5, time.time() + 5))


def test_an_edited_experiment_is_imported_afresh_by_the_next_node(project, tmp_path, monkeypatch):
    """The worker keeps installed packages loaded, never the researcher's modules: the next
    node imports the edited file, as a fresh process would, and the worker goes on serving."""
    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    assert client_job(root, version, nodes[0], tmp_path / "a.log").wait(timeout=120) == 0
    before = worker_pids(root)
    assert before
    edit_probe(root)
    probe = tmp_path / "probe.json"
    proc = client_job(root, version, nodes[1], tmp_path / "b.log", PROBE_FILE=str(probe))
    assert proc.wait(timeout=120) == 0
    seen = json.loads(probe.read_text())
    assert seen["edited"] == 1 and seen["pid"] != proc.pid  # new code, in the worker's child
    assert worker_pids(root) == before


def test_a_changed_file_the_worker_keeps_loaded_makes_it_decline(project, tmp_path, monkeypatch):
    """An upgrade of what stays loaded (here cfcompile's own code; ``pip install -U`` of a
    package alike) would run other code than a fresh process: the worker declines and leaves."""
    import cfcompile.release as kept

    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    assert client_job(root, version, nodes[0], tmp_path / "a.log").wait(timeout=120) == 0
    before = worker_pids(root)
    assert before
    stat = os.stat(kept.__file__)
    try:
        os.utime(kept.__file__, (stat.st_atime, stat.st_mtime + 5))
        probe = tmp_path / "probe.json"
        proc = client_job(root, version, nodes[1], tmp_path / "b.log", PROBE_FILE=str(probe))
        proc.wait(timeout=120)
    finally:
        os.utime(kept.__file__, (stat.st_atime, stat.st_mtime))
    assert json.loads(probe.read_text())["pid"] == proc.pid  # declined: ran in process
    deadline = time.time() + 10
    while any(p in worker_pids(root) for p in before):
        assert time.time() < deadline
        time.sleep(0.1)


def test_worker_can_be_turned_off_and_is_not_used_on_slurm(project, tmp_path, monkeypatch):
    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    for env in ({"CFCOMPILE_WORKER": "0"}, {"SLURM_JOB_ID": "123"}):
        probe = tmp_path / "probe.json"
        proc = client_job(root, version, nodes[0], tmp_path / "j.log", PROBE_FILE=str(probe), **env)
        assert proc.wait(timeout=120) == 0
        assert json.loads(probe.read_text())["pid"] == proc.pid  # in process
    assert not worker_pids(root)


def test_a_request_for_another_workflow_is_declined(project, tmp_path, monkeypatch):
    root, version, nodes = compiled(project, tmp_path, monkeypatch)
    assert client_job(root, version, nodes[0], tmp_path / "a.log").wait(timeout=120) == 0
    path = client.socket_path(str(root / ".cfcompile" / "chain"))
    sock = client.connect(path)
    assert sock is not None
    with sock:
        args = ["--stage", "x", "--hash", "y"]
        assert client.ask(sock, str(tmp_path), args, stoppable=False) is None


def forked_workers(root: Path) -> list[int]:
    """Workers a compile forked (``runtime.prefork``): named cfcompile-wkr, cwd the project."""
    out = subprocess.run(["pgrep", "-x", "cfcompile-wkr"], capture_output=True, text=True)
    pids = []
    for pid in out.stdout.split():
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(root):
                pids.append(int(pid))
        except OSError:
            continue
    return pids


IMPORT_PROBE = (
    "import os as _os\n"
    "with open(_os.environ['IMPORT_LOG'], 'a') as _f:\n"
    "    _f.write(f'{_os.getpid()} OMP={_os.environ.get(\"OMP_NUM_THREADS\")}\\n')\n"
)


def test_the_compile_forks_the_worker_that_runs_every_job(project, tmp_path):
    """The worker is forked from the compile, after its import under the threads a one-thread
    job gets; no job starts one; every node runs in its child and imports the experiment
    afresh there; the pipe still ends."""
    root = project({**CHAIN, "experiments/chain.py": IMPORT_PROBE + PROBE})
    imports = tmp_path / "imports"
    env = {"CHAIN_LOG": str(tmp_path / "log"), "IMPORT_LOG": str(imports)}
    env["PROBE_FILE"] = str(tmp_path / "probe.json")
    env.pop("OMP_NUM_THREADS", None)
    proc = pipe(root, "chain", "-p", "few", "--batch", "1", cores="2", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = imports.read_text().splitlines()
    assert lines[0].endswith("OMP=1"), lines  # the compile's import, as a one-thread job's
    # then afresh in each node's child (7), and once for the results table (declared metrics)
    assert len(lines) == 1 + 7 + 1, lines
    compile_pid = int(lines[0].split()[0])
    child = json.loads((tmp_path / "probe.json").read_text())["pid"]
    workers = forked_workers(root)
    assert workers and compile_pid not in workers and not worker_pids(root)
    assert child not in (compile_pid, *workers)
    assert sorted((tmp_path / "log").read_text().split("\n")[:-1]) == sorted(
        ["first s0", "first s1", "first s2", "second s0", "second s1", "second s2", "total"]
    )
    log = root / ".cfcompile" / "chain" / "logs" / "worker.log"
    assert log.exists()


def test_a_failed_compile_leaves_no_forked_worker(project, tmp_path):
    broken = CHAIN["experiments/chain.py"].replace(
        "def run(param_sets, manager):", "def run(param_sets, manager):\n    raise ValueError('no')"
    )
    root = project({**CHAIN, "experiments/chain.py": broken})
    proc = pipe(root, "chain", "-p", "few", env={"CHAIN_LOG": str(tmp_path / "log")})
    assert proc.returncode != 0 and "no" in proc.stderr
    deadline = time.time() + 10
    while forked_workers(root):
        assert time.time() < deadline, "the forked worker outlived the failed compile"
        time.sleep(0.1)
    run_cli("chain", "-p", "few", "--dry-run", cwd=root, check=False)
    assert not forked_workers(root)  # modes that run nothing fork nothing


ONE_THREAD = dict.fromkeys(
    (
        "OMP_NUM_THREADS",
        "GOTO_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    ),
    "1",
)  # what Snakemake's shell() exports for a one-thread rule


def test_the_forked_worker_serves_one_thread_jobs_and_edited_code_afresh(project, tmp_path):
    root = project({**CHAIN, "experiments/chain.py": PROBE})
    env = {"CHAIN_LOG": str(tmp_path / "log")}
    run_cli("chain", "-p", "few", "--batch", "1", cwd=root, env=env)
    version = current_version(str(root / ".cfcompile" / "chain"))
    nodes = [n for n in NodeStore(version).nodes() if n.stage == "first"]
    forked = forked_workers(root)
    assert forked
    probe = tmp_path / "probe.json"
    job = client_job(root, version, nodes[0], tmp_path / "a.log", PROBE_FILE=str(probe), **env,
                     **ONE_THREAD)  # fmt: skip
    assert job.wait(timeout=120) == 0
    child = json.loads(probe.read_text())["pid"]
    assert child != job.pid and not worker_pids(root)  # the forked worker ran it, no other
    edit_probe(root)
    job = client_job(root, version, nodes[1], tmp_path / "b.log", PROBE_FILE=str(probe), **env,
                     **ONE_THREAD)  # fmt: skip
    assert job.wait(timeout=120) == 0
    seen = json.loads(probe.read_text())
    assert seen["edited"] == 1 and seen["pid"] != job.pid  # the edit, in the worker's child
    assert forked_workers(root) == forked
