"""The job command of Snakefiles compiled before the client moved: ``python -I -S
.../cfcompile/client.py WORKDIR ARGS`` runs ``cfcompile/runtime/client.py`` (this path is
written into those Snakefiles). Standard library only, like the client itself: ``-S`` leaves
site-packages off ``sys.path``, so the file is run by path, not imported."""

import os
import runpy

if __name__ == "__main__":
    runpy.run_path(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime", "client.py"),
        run_name="__main__",
    )
