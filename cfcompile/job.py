"""``python -m cfcompile.job VERSION ...``: the job command (public: compiled Snakefiles, the
client's fallback and submitit's pickled array tasks name it). The runtime is
``cfcompile.runtime.job_runner``; ``run_task`` is re-exported because submitted arrays pickled it by
this path."""

import sys

from cfcompile.runtime.job_runner import main, run_task

__all__ = ["main", "run_task"]

if __name__ == "__main__":
    sys.exit(main())
