"""A live manager's notebook displays (``cfcompile.notebook_display``), called in process.

The walkthrough in a real Jupyter kernel is tests/e2e/test_notebook_walkthrough.py; these
check the pieces: escaping, which reportables each display takes, images inlined and nothing
left on disk, the graph's records and edges, and that nothing imports IPython before a display
is asked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

import cfcompile as cf
from cfcompile import notebook_display
from cfcompile.mirror import reporting as mirror_reporting
from cfcompile.reporting import HTMLReporter, JsonReporter, LinePlotReporter


@dataclass
class Params(cf.ExperimentParameters):
    x: int = 0


def live(tmp_path, name="nb"):
    paths = {k: str(tmp_path / k) for k in ("cache_path", "runs_path", "reports_path", "logs_path")}
    return cf.ArtifactManager(name, manager_cache_path=str(tmp_path), **paths)


@cf.stage(None, ["lines"])
def plot(record):
    record.report(LinePlotReporter([1, 2, 3], name="line"))
    record.report(JsonReporter({"n": record.params.name}, name="facts", group="tables"))
    return [1, 2, 3]


@cf.aggregate(["lines"], ["count"])
def count(record, records, lines):
    return len(lines)


@pytest.fixture
def run(tmp_path):
    manager = live(tmp_path)
    a = plot(cf.Record(manager, Params(name="a<b>", x=1)))
    b = plot(cf.Record(manager, Params(name="b", x=2)))
    total = count(cf.Record(manager, None))
    return manager, a, b, total


def test_no_ipython_until_a_display_is_asked_for():
    code = (
        "import sys, cfcompile, cfcompile.record, cfcompile.experiment\n"
        "m = cfcompile.ArtifactManager('x', dry=True)\n"
        "assert 'IPython' not in sys.modules, 'imported early'\n"
        "m.display_stage_graph()\n"
        "assert 'IPython' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_info_names_the_run_and_each_set_escaped(run):
    manager, a, b, _ = run
    info = manager.display_info().data
    assert f"Reference: <b>{manager.get_reference_name()}</b>" in info
    assert f"<li>a&lt;b&gt; - {a.get_hash()}</li>" in info and "a<b>" not in info
    assert f"<li>b - {b.get_hash()}</li>" in info
    assert "Non-file (live) argsets" in info  # sets made in the notebook, no parameter file


def test_reportables_are_picked_grouped_and_inlined(run, tmp_path):
    manager, a, b, _ = run
    everything = manager.display_all_reportables().data
    assert everything.index("reportable-group-title'>tables<") < everything.index("_line</h3>")
    assert everything.count("src='data:image/png;base64,") == 2
    mine = manager.display_record_reportables(b).data
    assert "<h3>b_plot_line</h3>" in mine and "a&lt;b&gt;" not in mine
    assert manager.display_group_reportables("tables").data.count("<h3>") == 2
    assert manager.display_stage_reportables("count").data == ""
    one = manager.display_reportable(manager.reportables[0]).data
    assert one.startswith("<div class='reportable' style=")
    assert all(r.path == "" for r in manager.reportables)  # restored after rendering
    assert not os.path.exists(tmp_path / "reports" / manager.get_reference_name())


def test_the_stage_graph_draws_records_stages_and_aggregate_inputs(run):
    manager, a, b, total = run
    dot = notebook_display.stage_graph_dot(manager)
    assert dot.count("subgraph cluster_") == 3
    assert f'"Record 2: (Aggregate) None\\n{total.get_hash()}"' in dot
    assert '"0_0" -> "2_0";' in dot and '"1_0" -> "2_0";' in dot  # inputs of the aggregate
    assert '[label="lines", shape=note]' in dot
    svg = manager.display_stage_graph().data
    assert svg.startswith("<svg") and a.get_hash() in svg


def test_curifactory_render_reportable_keeps_its_block(tmp_path):
    rep = HTMLReporter("<b>x</b>", name="r")
    rep.qualified_name = "set_stage_r"
    lines = mirror_reporting.render_reportable(rep, None, str(tmp_path))
    assert lines[:3] == [
        "<div class='reportable'>",
        "<a name='set_stage_r'></a>",
        "<h3>set_stage_r</h3>",
    ]
    assert lines[-2:] == ["<p><a href='#reportables'>back to reportables</a></p>", "</div>"]
    assert rep.path == "reportables"


def test_without_ipython_the_same_html_comes_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # import fails
    shown = notebook_display.as_display(["<p>", "x", "</p>"])
    assert isinstance(shown, notebook_display.HTMLFragment)
    assert shown._repr_html_() == shown.data == "<p>x</p>"


def test_inline_images_reads_escaped_names_inside_the_folder_only(tmp_path):
    # the notebook displays and the --report page share this: an attribute's HTML escapes
    # name the real file, and nothing outside the render folder is copied into the page
    folder = tmp_path / "render"
    folder.mkdir()
    (folder / "a&b.png").write_bytes(b"PNG")
    (tmp_path / "secret.png").write_bytes(b"SECRET")
    out = notebook_display.inline_images(
        "<img src='a&amp;b.png'><img src=\"../secret.png\">", str(folder)
    )
    assert "src='data:image/png;base64,UE5H'" in out  # base64 of b"PNG"
    assert 'src="../secret.png"' in out and "U0VDUkVU" not in out
