"""Publishing a stage's files all together, or not at all.

A stage's cachers write into a hidden staging folder beside each target folder; ``commit``
renames every file into place (atomic on one filesystem) only after all of them were written,
and ``abort`` deletes the staging folders. A crash, a failing ``save`` or a killed job can
therefore never leave a file that a later run would take for a finished artifact, and a
leftover staging folder is how the planner recognises an interrupted run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager

STAGING_PREFIX = ".cfcompile-tmp-"


class Transaction:
    """Collects the files of one stage in staging directories and publishes them together."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []  # (staged path, final path)
        self._dirs: dict[str, str] = {}  # final directory -> its staging directory
        self.token = uuid.uuid4().hex[:12]

    def stage_path(self, final: str) -> str:
        final = os.path.abspath(final)
        for staged, done in self._staged:
            if done == final:
                return staged
        parent = os.path.dirname(final)
        staging = self._dirs.get(parent)
        if staging is None:
            staging = os.path.join(parent, STAGING_PREFIX + self.token)
            os.makedirs(staging, exist_ok=True)
            self._dirs[parent] = staging
        staged = os.path.join(staging, os.path.basename(final))
        self._staged.append((staged, final))
        return staged

    def commit(self) -> list[str]:
        """Rename every staged file into place; returns the published paths."""
        published = []
        for staged, final in self._staged:
            if not os.path.lexists(staged):
                continue  # asked for a path but wrote nothing there (e.g. a metadata probe)
            if os.path.isdir(staged) and not os.path.islink(staged) and os.path.isdir(final):
                shutil.rmtree(final)
            os.replace(staged, final)
            published.append(final)
        self._cleanup()
        return published

    def abort(self) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        for staging in self._dirs.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._dirs.clear()


@contextmanager
def replacing(path: str):
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    For single files (markers, manifests, databases, result tables): a reader sees the old file
    or the new one, never half of one, and a failed write leaves nothing behind.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: str | bytes) -> None:
    with replacing(path) as tmp, open(tmp, "wb" if isinstance(data, bytes) else "w") as out:
        out.write(data)
