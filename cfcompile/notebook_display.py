"""A live manager's notebook displays: curifactory's ``display_*`` methods of ``ArtifactManager``.

curifactory's getting-started walkthrough runs an ``ArtifactManager`` cell by cell in Jupyter
and shows parts of the run's report in the notebook: ``display_info()`` (the report's header
block), ``display_all_reportables()``, ``display_record_reportables(record)``,
``display_group_reportables``, ``display_stage_reportables``, ``display_reportable`` and
``display_stage_graph()``. Each returns an ``IPython.display.HTML`` object that Jupyter shows
as the cell's output, with the HTML curifactory's report uses (the same headings, ids and
reportable blocks), so notebooks written for curifactory show the same things here.

Two things differ, on purpose. Reportables render into a temporary folder and their images are
inlined as data URIs: curifactory links them as ``/files/reports/...``, which shows only when
the Jupyter server was started in the project root, and leaves a report folder behind for a
display that wrote no report. And the stage graph is drawn from what cfcompile keeps of a
record (its stages, its state's names, the records it was built from), not from curifactory's
per-artifact representations, which cfcompile does not keep (docs/curifactory.md).

IPython is imported only when a display is asked for: this module is a base class of every
manager, and jobs, the tracer and plain scripts must never pay for importing IPython. Where
IPython is missing, the displays return an ``HTMLFragment`` holding the same HTML.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

_STATUS_COLORS = {"incomplete": "orange", "complete": "green", "error": "red", "LIVE": "cyan"}
_REPORTABLE_STYLE = (
    " style='border: 1px solid gray; display: inline-block; vertical-align: top; "
    "padding: 5px; padding-top: 0px; padding-bottom: 0px; margin: 5px;'"
)


class HTMLFragment:
    """HTML for Jupyter where IPython is not importable: ``data`` as ``IPython.display.HTML``
    has it, and ``_repr_html_`` (what any rich front end shows)."""

    def __init__(self, data: str):
        self.data = data

    def _repr_html_(self) -> str:
        return self.data


def as_display(lines: list[str]) -> Any:
    """``IPython.display.HTML`` of the joined lines (IPython imported here, on first use), or
    an ``HTMLFragment`` without IPython."""
    text = "".join(lines)
    try:
        from IPython.display import HTML
    except ModuleNotFoundError:
        return HTMLFragment(text)
    return HTML(text)


def inline_images(fragment: str, folder: str) -> str:
    """``src='file'`` of a file rendered into ``folder`` becomes a data URI, so the output
    stays in the notebook (or the ``--report`` page, which gets mailed around) when the folder
    is gone. Only files inside ``folder`` are read: a ``src`` naming any other local path is
    left as it is rather than copied into the page."""
    root = os.path.realpath(folder)

    def swap(match: re.Match) -> str:
        quote, src = match.group(1), html.unescape(match.group(2))  # the attribute's escapes
        path = os.path.realpath(os.path.join(root, src))
        if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
            return match.group(0)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        return f"src={quote}data:{mime};base64,{data}{quote}"

    return re.sub(r"src=(['\"])([^'\"]+)\1", swap, fragment)


def reportable_block(reportable: Any, notebook: bool) -> list[str]:
    """curifactory's block around a rendered reportable: a ``<div class='reportable'>`` with
    the anchor and the ``<h3>`` title (both its qualified name), then its own HTML."""
    name = html.escape(str(reportable.qualified_name))
    style = _REPORTABLE_STYLE if notebook else ""
    lines = [f"<div class='reportable'{style}>", f"<a name='{name}'></a>", f"<h3>{name}</h3>"]
    body = reportable.html()
    lines.extend(body if isinstance(body, list) else [body])
    if not notebook:
        lines.append("<p><a href='#reportables'>back to reportables</a></p>")
    lines.append("</div>")
    return lines


def reportables_html(reportables: list[Any]) -> list[str]:
    """The blocks of ``reportables`` for a notebook: each rendered into a temporary folder
    whose files are inlined (the folder is removed; each reportable's ``path`` is restored)."""
    lines: list[str] = []
    folder = tempfile.mkdtemp(prefix="cfcompile-display-")
    try:
        for reportable in reportables:
            before = reportable.path
            reportable.path = folder
            try:
                reportable.render()
                block = reportable_block(reportable, notebook=True)
            finally:
                reportable.path = before
            lines.append(inline_images("".join(block), folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return lines


def grouped_html(manager: Any) -> list[str]:
    """All of the manager's reportables, the grouped ones first under their group's title
    (curifactory's ``render_report_all_reportables`` order)."""
    lines: list[str] = []
    for group, members in manager.get_grouped_reportables().items():
        lines.append(f"<h3 class='reportable-group-title'>{html.escape(str(group))}</h3>")
        lines.extend(reportables_html(members))
    lines.extend(reportables_html(manager.get_ungrouped_reportables()))
    return lines


def _param_sets_html(manager: Any) -> list[str]:
    """Each parameter file's sets with their hashes, then the sets made in the notebook
    ("Non-file (live) argsets"), as curifactory lists them."""
    lines, listed = ["<ul>"], set()
    for param_file, sets in manager.param_file_param_sets.items():
        lines.append(f"<li>{html.escape(str(param_file))} <ul>")
        for name, params_hash in sets:
            lines.append(f"<li>{html.escape(str(name))} - {html.escape(str(params_hash))}</li>")
            listed.add(params_hash)
        lines.append("</ul></li>")
    live = [p for p in manager.get_all_param_sets() if p.hash not in listed]
    if live:
        lines.append("<li>Non-file (live) argsets <ul>")
        lines += [f"<li>{html.escape(str(p.name))} - {html.escape(str(p.hash))}</li>" for p in live]
        lines.append("</ul></li>")
    return [*lines, "</ul></div>"]


def info_html(manager: Any) -> list[str]:
    """The top block of curifactory's report: the run's name, number, reference, host,
    status, commit, parameter files and every parameter set with its hash, the run line."""
    status = html.escape(str(manager.status).upper())
    status_line = f"<b><span style='color: {_STATUS_COLORS.get(manager.status, '')}'>"
    status_line += f"{status}</span></b>"
    if manager.status == "error":
        status_line += " - " + html.escape(str(manager.error))
    if manager.interactive:
        status_line += " - (interactive session)"
    dirty = "<span style='color: darkorange'><b>*</b></span>" if manager.git_workdir_dirty else ""
    name = html.escape(str(manager.experiment_name))
    number = manager.experiment_run_number
    lines = [
        f"<h1 id='title'>Report: {name} - {number}</h1>",
        "<div id='experiment-info-block'>",
        f"<p>Experiment name: <b>{name}</b> </br>",
        f"Experiment run number: <b>{number}</b></br>",
        f"Run timestamp: <b>{manager.run_timestamp.strftime('%m/%d/%Y %H:%M:%S')}</b></br>",
        f"Reference: <b>{html.escape(manager.get_reference_name())}</b></br>",
        f"Hostname: <b>{html.escape(str(manager.hostname))}</b></br>",
        f"Run status: {status_line}</br>",
        f"Git commit: {dirty}{html.escape(str(manager.git_commit_hash))}</br>",
        f"Param files: {html.escape(str(manager.parameter_files))}</br></p>",
        *_param_sets_html(manager),
    ]
    if manager.git_workdir_dirty:
        lines.append(
            "<p><span style='color: orange;'><b>*WARNING - </b></span>Uncommited changes.</p>"
        )
    lines.append(f"<p id='run-string'>Run string: <pre>{html.escape(manager.run_line)}</pre></p>")
    if manager.notes:
        notes = html.escape(str(manager.notes)).replace("\n", "</br>")
        lines += ["<h3>Notes</h3>", f"<p>{notes}</p>"]
    return lines


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def stage_graph_dot(manager: Any) -> str:
    """Graphviz dot of the run: a box per record (its parameter set's name and hash) holding
    its stages in call order and the names in its state; an edge from the last stage of each
    record another was built from (an aggregate's records, ``make_copy``'s source)."""
    index = {id(record): i for i, record in enumerate(manager.records)}
    lines = ["digraph run {", '  compound=true; fontsize=10; node [fontname="sans-serif"];']
    for i, record in enumerate(manager.records):
        name = record.params.name if record.params is not None else "None"
        label = f"Record {i}: {'(Aggregate) ' if record.is_aggregate else ''}{name}\n"
        lines += [f"  subgraph cluster_{i} {{", f"    label={_quote(label + record.get_hash())};"]
        previous = None
        for step, stage in enumerate(record.stages):
            lines.append(f"    {_quote(f'{i}_{step}')} [label={_quote(stage)}, shape=box];")
            if previous is not None:
                lines.append(f"    {_quote(previous)} -> {_quote(f'{i}_{step}')};")
            previous = f"{i}_{step}"
        names = ", ".join(str(key) for key in record.state.keys()) or "(empty state)"
        lines += [f"    {_quote(f'{i}_state')} [label={_quote(names)}, shape=note];", "  }"]
        if previous is not None:
            lines.append(f"  {_quote(previous)} -> {_quote(f'{i}_state')} [style=dashed];")
        first = f"{i}_0" if record.stages else f"{i}_state"
        for source in record.input_records:
            j = index.get(id(source))
            if j is not None and j != i:
                last = f"{j}_{len(source.stages) - 1}" if source.stages else f"{j}_state"
                lines.append(f"  {_quote(last)} -> {_quote(first)};")
    return "\n".join([*lines, "}"])


def stage_graph_html(manager: Any) -> list[str]:
    """The stage graph as inline SVG through Graphviz's ``dot``; without ``dot``, the message
    curifactory shows and the dot text, so the graph is not lost."""
    dot_text = stage_graph_dot(manager)
    exe = shutil.which("dot")
    if exe is None:
        return [
            "<p style='color: red'>No graphviz executable found, cannot render stage maps.</p>",
            f"<pre>{html.escape(dot_text)}</pre>",
        ]
    proc = subprocess.run([exe, "-Tsvg"], input=dot_text.encode(), capture_output=True)
    if proc.returncode != 0:
        error = proc.stderr.decode(errors="replace")[:500]
        return [f"<p style='color: red'>{html.escape(error)}</p>"]
    svg = proc.stdout.decode()
    return [svg[svg.find("<svg") :]]  # no XML prolog or doctype inside an HTML page


class NotebookDisplays:
    """curifactory's display methods of ``ArtifactManager`` (a base class of it): each returns
    HTML that Jupyter shows as the cell's output (see the module doc)."""

    records: list
    reportables: list

    def get_all_param_sets(self) -> list[Any]:
        """The parameter sets of the run's records, each once, in record order."""
        found: list[Any] = []
        for record in self.records:
            if record.params is not None and all(record.params is not p for p in found):
                found.append(record.params)
        return found

    def get_reportable_groups(self) -> list[str]:
        groups: list[str] = []
        for reportable in self.reportables:
            if reportable.group is not None and reportable.group not in groups:
                groups.append(reportable.group)
        return groups

    def get_grouped_reportables(self) -> dict[str, list[Any]]:
        return {
            g: [r for r in self.reportables if r.group == g] for g in self.get_reportable_groups()
        }

    def get_ungrouped_reportables(self) -> list[Any]:
        return [r for r in self.reportables if r.group is None]

    def display_info(self: Any) -> Any:
        """The report's header block: the run, its status and each parameter set's hash."""
        self.store()
        return as_display(info_html(self))

    def display_all_reportables(self) -> Any:
        return as_display(grouped_html(self))

    def display_record_reportables(self, record: Any) -> Any:
        return as_display(reportables_html([r for r in self.reportables if r.record is record]))

    def display_group_reportables(self, group_name: str) -> Any:
        return as_display(reportables_html([r for r in self.reportables if r.group == group_name]))

    def display_stage_reportables(self, stage_name: str) -> Any:
        return as_display(reportables_html([r for r in self.reportables if r.stage == stage_name]))

    def display_reportable(self, reportable: Any) -> Any:
        return as_display(reportables_html([reportable]))

    def display_stage_graph(self) -> Any:
        """The records and the stages they went through, as SVG (Graphviz's ``dot``)."""
        return as_display(stage_graph_html(self))
