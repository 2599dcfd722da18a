"""The command line, ``cfcompile``: its entry point (``cli.main``), its options
(``cli.options``, what they mean together: ``cli.parsed``), and its modes: compiling
(``cli.compile_modes``: the Snakefile, ``--eager``, ``--dry-run``, ``--dag``, ``ls``),
looking at what ran (``cli.view_modes``: ``--status``, ``--results``, ``--report``) and
starting jobs (``cli.run_modes``: ``--run``, ``--submit``, ``--cancel``, ``--init-profile``).
Each mode translates its options into a ``driver.Selection`` and hands it to the driver.
"""

from cfcompile.cli.main import main

__all__ = ["main"]
