"""curifactory's getting-started walkthrough as a notebook, run in a real Jupyter kernel.

The cells are the code of the seed document (curifactory's "Getting Started": the
0_BasicComponents and 1_CachingAndReporting notebooks): an ``ArtifactManager`` in a live
context, a parameter dataclass, records, stages and an aggregate, caching (a cached rerun does
not call the stage again), ``Lazy``, reportables, the manager's four display functions and
``generate_report()``. The notebook is executed by nbclient in an ipykernel of this very
interpreter (a kernelspec written into a temporary ``JUPYTER_PATH``), twice: written with
``import cfcompile as cf``, and unmodified with ``import curifactory as cf`` after a first cell
that calls ``cfcompile.compat.install()``. Every cell must run without error; then the HTML
each display function returned is read from the executed notebook's outputs and checked for
the run's name, the records' hashes and the reportables' titles, and the printed values for
what the walkthrough says they are.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL = "cfcompile-walkthrough"

# (tag, source): a tag names a cell whose output the test reads
CELLS: list[tuple[str, str]] = [
    # -- 0_BasicComponents ------------------------------------------------------------------
    (
        "",
        'from curifactory import ArtifactManager\nmanager = ArtifactManager("notebook_example_0")',
    ),
    (
        "",
        "from dataclasses import dataclass\nfrom curifactory import ExperimentParameters\n\n"
        "@dataclass\nclass MyParams(ExperimentParameters):\n"
        "    some_scalar_multiplier: float = 1.0\n\n"
        'default_params = MyParams(name="default")\n'
        'doubled_params = MyParams(name="doubled", some_scalar_multiplier=2.0)',
    ),
    (
        "records",
        "from curifactory import Record\nr0 = Record(manager, default_params)\n"
        "r1 = Record(manager, doubled_params)\nprint(r0.state)\nprint(r1.state)",
    ),
    (
        "",
        "from curifactory import stage\n\n"
        '@stage(inputs=None, outputs=["initial_value"])\ndef get_initial_value(record):\n'
        "    my_value = 5\n    return my_value * record.params.some_scalar_multiplier\n\n"
        "r0 = get_initial_value(r0)\nr1 = get_initial_value(r1)",
    ),
    ("initial", "print(r0.state, r1.state)"),
    (
        "final",
        '@stage(inputs=["initial_value"], outputs=["final_value"])\n'
        "def multiply_again(record, initial_value):\n"
        "    return initial_value * record.params.some_scalar_multiplier\n\n"
        "r1 = multiply_again(r1)\nprint(r1.state)",
    ),
    (
        "chained",
        'r2 = Record(manager, MyParams(name="uber-double", some_scalar_multiplier=4.0))\n'
        "r2 = multiply_again(get_initial_value(r2))\nprint(r2.state)",
    ),
    (
        "aggregate",
        "from curifactory import aggregate\n\n"
        '@aggregate(inputs=["final_value"], outputs=["all_final_values", "maximum_value"])\n'
        "def find_maximum_final_value(record, records, final_value: dict[Record, float]):\n"
        "    all_vals = {}\n    for r, value in final_value.items():\n"
        "        all_vals[r.params.name] = value\n"
        "    maximum = max(all_vals.values())\n    return all_vals, maximum\n\n"
        "final_record = Record(manager, None)\n"
        "final_record = find_maximum_final_value(final_record, [r0, r1, r2])\n"
        "print(final_record.state)",
    ),
    # -- 1_CachingAndReporting --------------------------------------------------------------
    (
        "module",
        "import os\nfrom dataclasses import dataclass\nimport curifactory as cf\n"
        'manager = cf.ArtifactManager("notebook_example_1")\nprint("MODULE", cf.__name__)\n\n'
        "@dataclass\nclass Params(cf.ExperimentParameters):\n    my_parameter: int = 1\n\n"
        'default_params = Params(name="default")\n'
        'doubled_params = Params(name="doubled", my_parameter=2)',
    ),
    (
        "",
        "from time import sleep\nfrom curifactory.caching import JsonCacher\ncalls = []\n\n"
        '@cf.stage(inputs=None, outputs=["long-compute-data"], cachers=[JsonCacher])\n'
        "def long_compute_step(record):\n"
        '    some_data = {"my_value": record.params.my_parameter, "magic_value": 42}\n'
        "    calls.append(record.params.name)\n"
        "    sleep(0.2)  # making dictionaries is hard work (5 s in the walkthrough)\n"
        "    return some_data",
    ),
    ("", "%%time\nr0 = cf.Record(manager, default_params)\nr0 = long_compute_step(r0)"),
    (
        "cache_listing",
        'import json\nprint(os.listdir("data/cache"))\n'
        "data = [n for n in os.listdir('data/cache') if not n.endswith('_metadata.json')]\n"
        "with open(f\"data/cache/{data[0]}\", 'r') as infile:\n"
        "    print(json.load(infile))",
    ),
    (
        "cached",
        "%%time\nr1 = cf.Record(manager, default_params)\nr1 = long_compute_step(r1)\n"
        'print("CALLS", calls)',
    ),
    (
        "",
        "r2 = cf.Record(manager, doubled_params)\nr2 = long_compute_step(r2)\n"
        'sorted(os.listdir("data/cache"))',
    ),
    (
        "lazy",
        "from curifactory.caching import Lazy\nimport sys\n\n"
        '@cf.stage(inputs=None, outputs=[Lazy("very-large-object")], cachers=[JsonCacher])\n'
        "def make_mega_big_object(record):\n    mega_big = [1]*1024*1024\n"
        "    return mega_big\n\n"
        "r3 = cf.Record(manager, default_params)\nr3 = make_mega_big_object(r3)\n"
        "r3.state.resolve = False\nprint(type(r3.state['very-large-object']).__name__)\n"
        "r3.state.resolve = True\nprint(type(r3.state['very-large-object']).__name__)",
    ),
    (
        "reportables",
        "from curifactory.reporting import LinePlotReporter\n\n"
        '@cf.stage(inputs=None, outputs=["line_history"])\ndef make_pretty_graphs(record):\n'
        "    multiplier = record.params.my_parameter\n"
        "    line_0 = [1 * multiplier, 2 * multiplier, 3 * multiplier]\n"
        "    line_1 = [3 * multiplier, 2 * multiplier, 1 * multiplier]\n"
        "    line_2 = [4, 0, 3]\n"
        '    record.report(LinePlotReporter(line_0, name="single_line_plot"))\n'
        "    record.report(LinePlotReporter(\n"
        '        y={"ascending": line_0, "descending": line_1, "static": line_2},\n'
        '        name="multi_line_plot"\n    ))\n'
        "    return [line_0, line_1, line_2]\n\n"
        "r4 = cf.Record(manager, default_params)\nr5 = cf.Record(manager, doubled_params)\n"
        "r4 = make_pretty_graphs(r4)\nr5 = make_pretty_graphs(r5)\n"
        'print("HASHES", json.dumps({r.params.name: r.get_hash() for r in (r4, r5)}))\n'
        'print("REFERENCE", manager.get_reference_name())',
    ),
    ("display_info", "manager.display_info()"),
    ("display_all_reportables", "manager.display_all_reportables()"),
    ("display_record_reportables", "manager.display_record_reportables(r4)"),
    ("display_stage_graph", "manager.display_stage_graph()"),
    ("generate_report", "manager.generate_report()\nsorted(os.listdir('reports'))"),
]

TITLES = ("single_line_plot", "multi_line_plot")
STAGES = ("long_compute_step", "make_mega_big_object", "make_pretty_graphs")
# what curifactory 0.20.5 hashes the walkthrough's parameter sets to (the seed's file names
# are an older curifactory's); computed by curifactory itself, in a process of its own
ORACLE = """
import json
from dataclasses import dataclass
import curifactory as cf
from curifactory.hashing import hash_param_set

@dataclass
class Params(cf.ExperimentParameters):
    my_parameter: int = 1

sets = [Params(name="default"), Params(name="doubled", my_parameter=2)]
print(json.dumps({p.name: hash_param_set(p) for p in sets}))
"""


@pytest.fixture(scope="module")
def curifactory_hashes() -> dict[str, str]:
    pytest.importorskip("curifactory", reason="curifactory 0.20.5 is the test oracle")
    proc = subprocess.run([sys.executable, "-c", ORACLE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def notebook(library: str):
    """The walkthrough with ``import curifactory`` (as the seed writes it, after a cell that
    installs the alias) or with every ``curifactory`` written as ``cfcompile``."""
    cells = []
    if library == "curifactory":
        install = "from cfcompile import compat\ncompat.install()"
        cells.append(nbformat.v4.new_code_cell(install))
    for tag, source in CELLS:
        if library == "cfcompile":
            source = source.replace("curifactory", "cfcompile")
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [tag] if tag else []
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernelspec that starts ipykernel with this interpreter, on JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("MPLBACKEND", "Agg")
        yield KERNEL


def execute(kernel: str, library: str, project: Path) -> dict[str, dict]:
    """Run the notebook in ``project``; {tag: {"text": printed, "html": display, "plain":
    repr}} for the tagged cells. nbclient raises CellExecutionError on any cell's error."""
    nb = notebook(library)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(project)}}
    )
    client.execute()
    nbformat.validate(nb)
    found = {}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        outputs = {"text": "", "html": "", "plain": ""}
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
            if out["output_type"] == "stream" and out["name"] == "stdout":
                outputs["text"] += out["text"]
            data = out.get("data", {})
            outputs["html"] += data.get("text/html", "")
            outputs["plain"] += data.get("text/plain", "")
        if tags:
            found[tags[0]] = outputs
    return found


def line(text: str, key: str) -> str:
    return next(ln.split(" ", 1)[1] for ln in text.splitlines() if ln.startswith(key + " "))


@pytest.mark.parametrize("library", ["cfcompile", "curifactory"])
def test_walkthrough_runs_in_a_kernel_and_displays_the_report(
    kernel, curifactory_hashes, tmp_path, library
):
    out = execute(kernel, library, tmp_path)

    # what the walkthrough prints (its "#>" lines)
    assert out["records"]["text"].split() == ["{}", "{}"]
    assert out["initial"]["text"].strip() == "{'initial_value': 5.0} {'initial_value': 10.0}"
    assert out["final"]["text"].strip() == "{'initial_value': 10.0, 'final_value': 20.0}"
    assert out["chained"]["text"].strip() == "{'initial_value': 20.0, 'final_value': 80.0}"
    assert out["aggregate"]["text"].strip() == (
        "{'all_final_values': {'doubled': 20.0, 'uber-double': 80.0}, 'maximum_value': 80.0}"
    )
    assert line(out["module"]["text"], "MODULE") == "cfcompile"  # the alias, not curifactory
    # caching: the seed's cache file name and value; the rerun loads instead of calling
    listing = out["cache_listing"]["text"]
    default = curifactory_hashes["default"]
    seed_name = f"notebook_example_1_{default}_long_compute_step_long-compute-data"
    assert f"{seed_name}.json" in listing, listing
    assert "{'my_value': 1, 'magic_value': 42}" in listing
    assert line(out["cached"]["text"], "CALLS") == "['default']"
    assert out["lazy"]["text"].split() == ["Lazy", "list"]

    hashes = json.loads(line(out["reportables"]["text"], "HASHES"))
    assert hashes == curifactory_hashes
    reference = line(out["reportables"]["text"], "REFERENCE")
    assert re.fullmatch(r"notebook_example_1_1_\d{4}-\d\d-\d\d-T\d{6}", reference), reference

    info = out["display_info"]["html"]
    assert "<h1 id='title'>Report: notebook_example_1 - 1</h1>" in info
    assert f"Reference: <b>{reference}</b>" in info
    for name, digest in hashes.items():
        assert f"<li>{name} - {digest}</li>" in info
    assert "notebook_example_0" not in info  # this run's manager, not the first one's

    everything = out["display_all_reportables"]["html"]
    for name in hashes:
        for title in TITLES:
            assert f"<h3>{name}_make_pretty_graphs_{title}</h3>" in everything
    assert everything.count("src='data:image/png;base64,") == 4  # inlined, no /files/ link

    mine = out["display_record_reportables"]["html"]
    assert all(f"<h3>default_make_pretty_graphs_{t}</h3>" in mine for t in TITLES)
    assert "doubled_" not in mine and mine.count("<img") == 2

    graph = out["display_stage_graph"]["html"]
    assert graph.startswith("<svg") and graph.rstrip().endswith("</svg>")
    for digest in hashes.values():
        assert digest in graph
    assert all(stage in graph for stage in STAGES)

    # generate_report: the run's folder, _latest pointing at it, the page naming the plots
    assert "'_latest'" in out["generate_report"]["plain"]
    assert (tmp_path / "reports" / "_latest").resolve().name == reference
    page = (tmp_path / "reports" / reference / "index.html").read_text()
    assert "notebook_example_1" in page
    assert all(f"default_make_pretty_graphs_{t}" in page for t in TITLES)
