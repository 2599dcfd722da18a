"""The modes that look at what ran (``cli.view_modes``): the last run's line of ``--status``."""

from __future__ import annotations

from cfcompile.cli.view_modes import last_run_line
from cfcompile.core import provenance


def test_the_last_run_is_named_with_how_it_ended(tmp_path):
    workdir = str(tmp_path)
    assert "none recorded" in last_run_line(workdir)
    first = provenance.start_run(workdir, None, "cfcompile x -p a --run", workdir)
    provenance.end_run(workdir, first, "succeeded")
    line = last_run_line(workdir)
    assert line.startswith("\nlast run: cfcompile x -p a --run (started ")
    assert line.endswith(" s, succeeded)")
    provenance.start_run(workdir, None, "cfcompile x -p a --submit slurm", workdir)
    line = last_run_line(workdir)
    assert "--submit slurm" in line and line.endswith("still running or killed before it ended)")
