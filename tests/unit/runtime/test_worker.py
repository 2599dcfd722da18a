"""The warm local worker's rules (``runtime.worker``), on a compiled version in this process:
which versions it serves, when its code is stale, when another worker replaced it. Real worker
processes, sockets and signals are tests/cli/test_worker_processes.py's."""

from __future__ import annotations

import os

from cfcompile.core.workdir import current_version
from cfcompile.runtime import worker


def test_a_worker_serves_only_its_own_workflows_versions(chain, tmp_path):
    _, workdir, _ = chain
    version = current_version(workdir)
    w = worker.Worker(version, str(tmp_path / "w.sock"), warm={})  # warm given: no import
    assert w.ours(version)
    assert not w.ours(str(tmp_path))  # not a version folder of this workflow
    assert not w.ours(os.path.join(workdir, "v", "missing"))


def test_a_changed_or_missing_kept_file_makes_the_worker_stale(chain, tmp_path):
    _, workdir, _ = chain
    kept = tmp_path / "kept.py"
    kept.write_text("X = 1\n")
    w = worker.Worker(current_version(workdir), str(tmp_path / "w.sock"),
                      warm={str(kept): os.stat(kept).st_mtime})  # fmt: skip
    assert not w.stale()
    os.utime(kept, (0, os.stat(kept).st_mtime + 5))
    assert w.stale()
    w.warm = {str(tmp_path / "gone.py"): 0.0}
    assert w.stale()


def test_a_worker_whose_socket_another_took_is_replaced(chain, tmp_path):
    _, workdir, _ = chain
    path = tmp_path / "w.sock"
    w = worker.Worker(current_version(workdir), str(path), warm={})
    assert w.replaced()  # nothing at its path
    path.write_text("")
    w.inode = os.stat(path).st_ino
    assert not w.replaced()
    os.link(path, tmp_path / "old")  # the old socket's inode stays taken: never reused here
    (tmp_path / "newer").write_text("")
    os.replace(tmp_path / "newer", path)  # what a later compile's worker does (worker.run)
    assert w.replaced()
    worker.with_group(2**22 + 12345, 0)  # no such process group: nothing happens
