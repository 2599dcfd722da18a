"""The job command's stable path: ``python -I -S .../cfcompile/client.py WORKDIR ARGS``.

Every Snakefile names this file in its job command, and Snakemake reruns every job whose
command changed, so the path stays where compiled Snakefiles have always found it while the
client itself lives in ``cfcompile/runtime/job_client.py``. Standard library only, like the
client: ``-S`` leaves site-packages off ``sys.path``, so the client is loaded from its file
(its bytecode cached beside it), not imported as ``cfcompile.runtime.job_client``.
"""

import importlib.machinery
import importlib.util
import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    loader = importlib.machinery.SourceFileLoader(
        "cfcompile_job_client", os.path.join(here, "runtime", "job_client.py")
    )
    client = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(client)
    sys.exit(client.main(sys.argv[1:]))
