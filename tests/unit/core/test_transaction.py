"""Publishing a stage's files all together or not at all (``core.transaction``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cfcompile.core import transaction
from cfcompile.core.transaction import STAGING_PREFIX, Transaction


def test_a_commit_publishes_every_staged_file_and_removes_the_staging_folders(tmp_path):
    txn = Transaction()
    final = {name: tmp_path / sub / name for sub, name in (("a", "x.json"), ("b", "y.pkl"))}
    for path in final.values():
        path.parent.mkdir()
        staged = txn.stage_path(str(path))
        assert os.path.basename(os.path.dirname(staged)) == txn.name
        assert txn.stage_path(str(path)) == staged  # asked twice: the same staged path
        with open(staged, "w") as f:
            f.write(path.name)
    txn.stage_path(str(tmp_path / "a" / "never_written.json"))  # a probe: nothing published
    assert not any(p.exists() for p in final.values())  # nothing visible before the commit
    published = txn.commit()
    assert sorted(published) == sorted(str(p) for p in final.values())
    assert all(p.read_text() == p.name for p in final.values())
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(STAGING_PREFIX)]
    assert leftovers == [] and not (tmp_path / "a" / "never_written.json").exists()


def test_an_abort_leaves_nothing_behind(tmp_path):
    (tmp_path / "old.json").write_text("old")
    txn = Transaction()
    for name in ("old.json", "new.json"):
        with open(txn.stage_path(str(tmp_path / name)), "w") as f:
            f.write("half written")
    txn.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]
    assert (tmp_path / "old.json").read_text() == "old"  # the published file is untouched


def test_a_staging_folder_names_its_host_and_pid():
    name = Transaction().name
    assert transaction.staging_owner(name) == (transaction.host_id(), os.getpid())
    assert transaction.staging_owner(f"{STAGING_PREFIX}my-host-12-abc") == ("my-host", 12)
    assert transaction.staging_owner(f"{STAGING_PREFIX}0123abcd") is None  # the old format
    assert transaction.staging_owner("data.json") is None


def test_a_dead_owners_staging_is_swept_and_a_live_or_foreign_one_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)  # it has exited: its staging folder has no owner any more
    here = transaction.host_id()
    names = {
        "dead": f"{STAGING_PREFIX}{here}-{pid}-a1",
        "live": f"{STAGING_PREFIX}{here}-{os.getpid()}-b2",
        "foreign": f"{STAGING_PREFIX}elsewhere.example-{pid}-c3",
        "old": f"{STAGING_PREFIX}d4",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    assert not transaction.pid_alive(pid) and transaction.pid_alive(os.getpid())
    assert transaction.sweep_stale_staging(str(tmp_path)) == [str(tmp_path / names["dead"])]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[k] for k in ("live", "foreign", "old")
    )
    assert transaction.sweep_stale_staging(str(tmp_path / "missing")) == []


def test_a_single_file_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "marker"
    transaction.write_atomic(str(path), "first")
    transaction.write_atomic(str(path), b"second")
    assert path.read_bytes() == b"second"
    with pytest.raises(RuntimeError), transaction.replacing(str(path)) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("the write failed")
    assert path.read_bytes() == b"second" and [p.name for p in tmp_path.iterdir()] == ["marker"]


def test_a_process_forked_inside_the_block_dies_of_sigterm_as_a_fresh_one():
    """A fork pool's worker must not inherit the job's handler: Pool.terminate() sends it
    SIGTERM and waits for it to end."""
    import os
    import signal
    import time

    from cfcompile.core.transaction import terminate_as_exception

    read, write = os.pipe()
    with terminate_as_exception():
        pid = os.fork()
        if pid == 0:  # the child (started, as a pool's worker is): wait to be terminated
            os.write(write, b"up")
            time.sleep(30)
            os._exit(3)
        os.read(read, 2)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
