"""``curifactory.reporting``: cfcompile's reporters, plus curifactory's report-rendering
functions that its users and tests call (``render_reportable``,
``render_report_argset_dump``).

cfcompile's own reports are ``manager.generate_report()`` (``cfcompile.reporting``) and the
compiled workflow's ``--report`` (``views/report``); these functions give the HTML fragments
in curifactory's shapes, for code that assembles its own pages from them.
"""

from __future__ import annotations

import html
import json
from typing import Any

import cfcompile.reporting as _reporting
from cfcompile.hashing import string_representations
from cfcompile.notebook_display import reportable_block
from cfcompile.reporting import *  # noqa: F403 - curifactory.reporting is cfcompile.reporting plus the below
from cfcompile.reporting import Reportable


def render_reportable(
    reportable: Reportable,
    manager: Any,
    reportables_path: str,
    override_display_path: str | None = None,
    notebook: bool = False,
) -> list[str]:
    """Render ``reportable``'s files into ``reportables_path`` and return its HTML block:
    a ``<div>``, the anchor and the ``<h3>`` title (both its qualified name), its own HTML."""
    reportable.path = reportables_path
    reportable.render()
    reportable.path = override_display_path if override_display_path is not None else "reportables"
    return reportable_block(reportable, notebook)


def render_report_argset_dump(manager: Any) -> list[str]:
    """Each parameter set of the manager's records (once per hash): a heading with its name
    and hash and its representations as escaped JSON."""
    lines: list[str] = []
    seen: set[str] = set()
    for record in manager.records:
        params = record.params
        if params is None or params.hash in seen:
            continue
        seen.add(params.hash)
        lines.append(f"<h4>{html.escape(str(params.name))} - {params.hash}</h4>")
        lines.append("<pre>")
        dump = json.dumps(string_representations(params), indent=2, default=str)
        lines.append(html.escape(dump))
        lines.append("</pre>")
    return lines


def _add_record_subgraph(dot: Any, record_index: int, record: Any, manager: Any) -> None:
    """curifactory draws each record's artifacts from ``ArtifactRepresentation`` objects that
    its stages register as they run; cfcompile keeps none (its graph is the compiled
    StageGraph: ``cfcompile EXP -p P --dag``), so there is nothing to draw from here."""
    raise NotImplementedError(
        "cfcompile keeps no per-record artifact representations to draw; the stage graph of "
        "an experiment is `cfcompile EXP -p P --dag` (docs/curifactory.md)"
    )


def __getattr__(name: str) -> Any:
    """Anything else of cfcompile.reporting (its private names included) under this name too."""
    return getattr(_reporting, name)
