"""The compile's standard output once the Snakefile is printed."""

from __future__ import annotations

import os
import sys


def release_stdout() -> None:
    """Point stdout at /dev/null, so that whatever reads it sees the end now.

    The compile prints the Snakefile and is done, but a pipe's reader (Snakemake parsing
    ``/dev/stdin``) only sees the end of the file when the last writer closes it: otherwise
    when this process exits, after the interpreter's teardown of the experiment's imports
    (0.3-0.5 s for scikit-learn, measured here). Also what lets a closed pipe end quietly:
    Python's final flush of a broken stdout would print a second error.
    """
    try:
        sys.stdout.flush()
    except OSError:
        pass
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to release
        pass
    finally:
        os.close(null)
