"""curifactory 0.20.5's API through ``import curifactory``, checked against curifactory itself.

The differential half runs one experiment (tests/projects/api) three ways, twice each: with
curifactory's own ``experiment`` command (the oracle: plain Python, where ``import curifactory``
is the real package), with ``cfcompile --eager`` and compiled through Snakemake. What each wrote
must agree: cache file names and values, what ``run()`` observed (``observed.json``: paths,
``params_hash(dry=True)``, the exception classes stages raise) and which stage bodies ran
(``executions.txt``). The in-process half covers what one experiment cannot: when errors are
raised, ``Procedure`` under the tracer, hashing labels on awkward parameters, pandas formats.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import PROJECTS, run_cli, snakemake, trace_graph

import cfcompile as cf
from cfcompile.caching import JsonCacher, PandasCacher, PathRef
from cfcompile.errors import CfcompileError, StageDefinitionError, StageOutputError
from cfcompile.procedure import NoArtifactManagerError

HASH_A = "6dbf9ac2da09ee1d3debf5a51873ec6d"  # Params(name="a", x=1), as curifactory hashes it
SETS = [(HASH_A, "a"), ("8e683187a00e5d462a4aeee69e9d3d9c", "b")]


# -- the three runs ---------------------------------------------------------------------------
def _curifactory(root: Path) -> None:
    """curifactory's own CLI, without its DAG pre-pass (which runs run() twice, so run()'s
    observations would come from the second pass) and without its HTML report."""
    exe = shutil.which("experiment", path=os.path.dirname(sys.executable)) or "experiment"
    subprocess.run(
        [exe, "api", "-p", "two", "--no-dag", "--no-report"],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _eager(root: Path) -> None:
    run_cli("api", "-p", "two", "--eager", cwd=root)


def _compiled(root: Path) -> None:
    snakefile = run_cli("api", "-p", "two", cwd=root).stdout
    snakemake("-s", "/dev/stdin", "--cores", "2", cwd=root, stdin=snakefile)


TOOLS = {"curifactory": _curifactory, "eager": _eager, "compiled": _compiled}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """Each tool's project after two runs, and the stage bodies each run executed."""
    pytest.importorskip("curifactory", reason="curifactory 0.20.5 is the test oracle")
    pytest.importorskip("ipynb_py_convert", reason="RawJupyterNotebookCacher needs it")
    out = {}
    for tool, run in TOOLS.items():
        root = tmp_path_factory.mktemp(tool) / "api"
        shutil.copytree(PROJECTS / "api", root, ignore=shutil.ignore_patterns("__pycache__"))
        executed = []
        for _ in range(2):
            run(root)
            lines = (root / "executions.txt").read_text().splitlines()
            executed.append(sorted(lines[sum(len(e) for e in executed) :]))
        out[tool] = {"root": root, "cache": root / "data" / "cache", "executed": executed}
    return out


def _observed(run: dict) -> dict:
    return json.loads((run["root"] / "observed.json").read_text())


OURS = ("eager", "compiled")


def test_cache_files_have_curifactorys_names(runs):
    theirs = {p.name for p in runs["curifactory"]["cache"].iterdir()}
    theirs.discard("params_registry.json")  # curifactory's registry; cfcompile keeps none
    for tool in OURS:
        ours = {p.name for p in runs[tool]["cache"].iterdir()}
        # ImageReporter's copy of its image: cfcompile makes it when the stage saves,
        # curifactory when its report renders (not at all with --no-report)
        copies = {f"api_{h}_sees_cachers_{n}_sees_cachers_image.png" for h, n in SETS}
        assert theirs <= ours and ours - theirs == copies, tool


def test_cache_values_agree(runs):
    """Every output (JSON, the notebook and its cells, the PathRef file) has the same content;
    the orc and xml frames are compared through what frames_back read from them."""
    theirs = runs["curifactory"]["cache"]
    compared = 0
    for path in sorted(theirs.iterdir()):
        if path.is_dir() or "metadata" in path.name or path.suffix in (".orc", ".xml"):
            continue
        if path.name == "params_registry.json":
            continue
        for tool in OURS:
            mine = runs[tool]["cache"] / path.name
            if path.suffix == ".json":
                assert json.loads(mine.read_text()) == json.loads(path.read_text()), (tool, path)
            else:
                assert mine.read_bytes() == path.read_bytes(), (tool, path.name)
            compared += 1
    assert compared == 2 * 21  # 9 outputs per parameter set, the aggregates, the None record
    back = json.loads(
        (runs["compiled"]["cache"] / f"api_{HASH_A}_frames_back_frames_back.json").read_text()
    )
    assert back == {"orc": {"a": [1, 1], "b": [0.5, 1.5]}, "xml": {"a": [1, 1], "b": [0.5, 1.5]}}


def test_stage_cachers_are_the_running_stages_cachers(runs):
    for tool in TOOLS:
        seen = json.loads(
            (runs[tool]["cache"] / f"api_{HASH_A}_sees_cachers_seen.json").read_text()
        )
        assert seen == [f"JsonCacher:api_{HASH_A}_sees_cachers_seen.json"], tool
        ref = json.loads(
            (runs[tool]["cache"] / f"api_{HASH_A}_reads_path_ref_read.json").read_text()
        )
        assert ref == {"text": "x=1", "file": f"api_{HASH_A}_writes_path_ref"}, tool


def test_run_observes_the_same_paths_hashes_and_exceptions(runs):
    theirs = _observed(runs["curifactory"])
    assert theirs["get_path_before_any_stage"] == f"api_{HASH_A}__thing"
    assert theirs["dry"]["x"] == ["repr(x)", "1"]
    assert theirs["dry"]["name"] == ["SKIPPED: blacklist", None]
    assert theirs["errors"] == [
        ["bad_cacher_count", ["CachersMismatchError"]],
        ["bad_empty_cachers", ["EmptyCachersError"]],
        ["bad_signature", ["KeyError"]],
        ["bad_signature", ["InputSignatureError"]],
        ["bad_suppress", ["InputSignatureError"]],
        ["bad_lazy", ["OutputSignatureError"]],
        ["needs_missing", ["KeyError"]],
    ]
    for tool in OURS:
        assert _observed(runs[tool]) == theirs, tool


def test_records_without_parameters_or_inputs_rerun_every_time(runs):
    """curifactory's Cacheable.check never reuses the cache of a Record(manager, None), nor of
    an aggregate over no records: the second run executes exactly those two again."""
    for tool in TOOLS:
        first, second = runs[tool]["executed"]
        assert len(first) == 19, tool
        assert second == ["lonely", "unparameterised"], tool


def test_metadata_names_the_experiment(runs):
    for tool in TOOLS:
        meta = json.loads(
            (runs[tool]["cache"] / f"api_{HASH_A}_make_n_n_metadata.json").read_text()
        )
        assert meta["manager_run_info"]["experiment_name"] == "api", tool
        assert meta["stage"] == "make_n" and meta["params_hash"] == HASH_A


def test_reportables_listing_holds_curifactorys_relative_paths(runs):
    name = f"api_{HASH_A}_sees_cachers_reportables_file_list.json"
    theirs = json.loads((runs["curifactory"]["cache"] / name).read_text())
    assert theirs[0] == f"data/cache/api_{HASH_A}_sees_cachers_reportables/a_sees_cachers_json.pkl"
    for tool in OURS:
        assert json.loads((runs[tool]["cache"] / name).read_text()) == theirs, tool


def test_report_renders_the_new_reporters(runs, tmp_path):
    """cfcompile's own report renders what the compiled jobs pickled: the LaTeX table, the line
    plot and the image (from the cache copy: the original is deleted first)."""
    root = runs["compiled"]["root"]
    (root / "picture_a.png").unlink()
    (root / "picture_b.png").unlink()
    page = run_cli("api", "-p", "two", "--report", "-o", str(tmp_path / "r.html"), cwd=root)
    html = (tmp_path / "r.html").read_text()
    assert page.returncode == 0
    assert "\\begin{tabular}" in html
    assert html.count("data:image/png;base64,") >= 4  # 2 line plots + 2 images, inlined
    assert "a_sees_cachers_json" in html


# -- errors: curifactory's classes, raised when the stage is called --------------------------
def _record(tmp_path, params=None) -> cf.Record:
    manager = cf.ArtifactManager(
        "t", cache_path=str(tmp_path / "cache"), manager_cache_path=str(tmp_path)
    )
    return cf.Record(manager, params if params is not None else cf.ExperimentParameters("p"))


def test_declaration_errors_wait_for_the_call_and_keep_cfcompiles_messages(tmp_path):
    @cf.stage(["a"], ["b", "c"], [JsonCacher])  # no error here: curifactory raises at the call
    def two_outputs(record, a):
        return 1, 2

    record = _record(tmp_path)
    with pytest.raises(cf.CachersMismatchError) as info:
        two_outputs(record, a=1)
    assert isinstance(info.value, StageDefinitionError) and isinstance(info.value, CfcompileError)
    assert "stage 'two_outputs'" in str(info.value) and "test_curifactory_api.py:" in str(
        info.value
    )
    assert "1 cacher(s) for 2 output(s)" in str(info.value)

    @cf.stage([], [cf.Lazy("big")])
    def lazy(record):
        return 1

    with pytest.raises(cf.OutputSignatureError) as info:
        lazy(record)
    assert isinstance(info.value, StageDefinitionError)


def test_missing_input_is_a_keyerror_with_a_readable_message(tmp_path):
    @cf.stage(["model"], ["s"])
    def score(record, model):
        return 1

    with pytest.raises(KeyError) as info:
        score(_record(tmp_path))
    text = str(info.value)
    assert text.startswith("stage 'score'") and "input 'model' is not in the record's state" in text


def test_wrong_number_of_returned_values_is_an_output_signature_error(tmp_path):
    @cf.stage([], ["a", "b"])
    def one_value(record):
        return 1

    with pytest.raises(cf.OutputSignatureError) as info:
        one_value(_record(tmp_path))
    assert isinstance(info.value, StageOutputError)
    assert "declares 2 output(s) ['a', 'b'] but returned 1" in str(info.value)


def test_pathref_refuses_a_path_that_is_not_its_own(tmp_path):
    @cf.stage([], ["ref"], [PathRef])
    def elsewhere(record):
        return str(tmp_path / "somewhere_else")

    record = _record(tmp_path)
    with pytest.raises(AssertionError, match="unexpected path to PathRef"):
        elsewhere(record)
    assert not list((tmp_path / "cache").glob("*_metadata.json"))  # nothing was published


def test_stage_cachers_is_cleared_between_stages(tmp_path):
    seen = []

    @cf.stage([], ["a"], [JsonCacher])
    def cached(record):
        seen.append(record.stage_cachers)
        return 1

    @cf.stage(["a"], ["b"])
    def uncached(record, a):
        seen.append(record.stage_cachers)
        return a

    record = uncached(cached(_record(tmp_path)))
    assert [type(c).__name__ for c in seen[0]] == ["JsonCacher"] and seen[1] is None
    assert record.stage_cachers is None


# -- Procedure ---------------------------------------------------------------------------------
@dataclass
class P(cf.ExperimentParameters):
    x: int = 0


@cf.stage(outputs=["n"], cachers=[JsonCacher])
def proc_make(record):
    return record.params.x


@cf.stage(inputs=["n"], outputs=["m"], cachers=[JsonCacher])
def proc_double(record, n):
    return 2 * n


@cf.aggregate(inputs=["m"], outputs=["total"], cachers=[JsonCacher])
def proc_total(record, records, m):
    return sum(m.values())


def _shape(sg) -> tuple:
    nodes = sorted((n.stage, n.hash, n.force, len(n.inputs)) for n in sg.nodes())
    return nodes, sorted((u, v) for u, v, _ in sg.graph.edges())


def test_procedure_traces_the_same_nodes_as_calling_the_stages(tmp_path):
    def direct(sets, manager):
        records = [proc_double(proc_make(cf.Record(manager, p))) for p in sets]
        proc_total(cf.Record(manager, None), records)

    def with_procedures(sets, manager):
        chain = cf.Procedure([proc_make, proc_double], manager)
        for p in sets:
            chain.run(p)
        cf.Procedure([proc_total], previous_proc=chain).run(None, manager=manager)

    sets = [P(name="a", x=1), P(name="b", x=2)]
    ours, _ = trace_graph(with_procedures, [P(name="a", x=1), P(name="b", x=2)], tmp_path / "p")
    reference, _ = trace_graph(direct, sets, tmp_path / "d")
    assert _shape(ours) == _shape(reference)
    assert ours.graph.number_of_nodes() == 5


def test_procedure_runs_eagerly_and_needs_a_manager(tmp_path):
    manager = cf.ArtifactManager(
        "t", cache_path=str(tmp_path / "cache"), manager_cache_path=str(tmp_path)
    )
    chain = cf.Procedure([proc_make, proc_double])
    with pytest.raises(NoArtifactManagerError):
        chain.run(P(name="a", x=1))
    first = chain.run(P(name="a", x=1), manager=manager)
    chain.run(P(name="b", x=2), manager=manager)
    assert first.state["m"] == 2 and len(manager.records) == 2
    summary = cf.Procedure([proc_total], manager, records=chain.records)
    assert summary.run(None).state["total"] == 6


# -- hashing: curifactory's function names and dry-run labels ----------------------------------
def test_dry_labels_and_helpers_match_curifactory():
    curifactory = pytest.importorskip("curifactory")
    import curifactory.hashing as their_hashing

    from cfcompile import hashing

    assert "cfcompile" not in curifactory.__file__

    def build(base, set_fns):
        @dataclass
        class Inner:
            depth: int = 3

        @dataclass
        class Params(base):
            size: int = 5
            fn: object = None
            inner: Inner = field(default_factory=Inner)
            gone: object = None
            gpus: int = 2
            scaled: int = 10
            hash_representations: dict = set_fns(gpus=None, scaled=lambda s, v: str(v * 2))

        return Params(name="x", fn=json.dumps)

    ours = build(cf.ExperimentParameters, cf.set_hash_functions)
    theirs = build(curifactory.ExperimentParameters, curifactory.set_hash_functions)
    assert ours.params_hash(dry=True) == theirs.params_hash(dry=True)
    assert hashing.hash_param_set(ours, dry=True) == their_hashing.hash_param_set(theirs, dry=True)
    assert hashing.compute_hash(hashing.get_param_set_hash_values(ours)) == ours.params_hash()
    assert hashing.param_set_string_hash_representations(
        ours
    ) == their_hashing.param_set_string_hash_representations(theirs)
    assert hashing.PARAMETERS_BLACKLIST == their_hashing.PARAMETERS_BLACKLIST


def test_hash_param_set_and_combo_hash_write_curifactorys_registry(tmp_path):
    from cfcompile import hashing

    record = _record(tmp_path, P(name="a", x=1))
    other = cf.Record(record.manager, P(name="b", x=2))
    value = hashing.add_params_combo_hash(record, [other], str(tmp_path), True)
    assert value == hashing.combo_hash(record.params.hash, [other.params.hash])
    assert hashing.hash_param_set(P(name="c", x=3), True, str(tmp_path)) == P(x=3).params_hash()
    registry = json.loads((tmp_path / "params_registry.json").read_text())
    assert registry[value] == {"active": record.params.hash, "arg_list": [other.params.hash]}
    assert registry[P(x=3).params_hash()]["x"] == "3"


# -- pandas formats: curifactory's table -------------------------------------------------------
@pytest.mark.parametrize(
    "fmt,ext,needs",
    [
        ("orc", "orc", "pyarrow"),
        ("excel", "xlsx", "openpyxl"),
        ("hdf5", "h5", "tables"),
        ("xml", "xml", "lxml"),
    ],
)
def test_pandas_formats_round_trip_with_curifactorys_extensions(tmp_path, fmt, ext, needs):
    """curifactory's _PandasIOType table; a format is skipped where pandas lacks its library
    (here: pyarrow is a dependency, openpyxl, PyTables and lxml are not installed)."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip(needs, reason=f"pandas needs {needs} for {fmt}")

    @cf.stage([], ["df"], [PandasCacher(format=fmt)])
    def frame(record):
        return pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}, index=[0, 1])

    record = frame(_record(tmp_path))
    path = record.manager.get_artifact_path(f"df.{ext}", record, stage_name="frame")
    assert os.path.exists(path)
    again = frame(_record(tmp_path))  # from the cache this time
    pd.testing.assert_frame_equal(again.state["df"], record.state["df"], check_dtype=False)


def test_reportables_pickles_are_found_beside_their_listing(tmp_path):
    """A listing written from another working directory (relative names) still finds its
    pickles: they are beside it."""
    from cfcompile.core.reportable_files import listed_reportables

    folder = tmp_path / "cache" / "e_h_s_reportables"
    folder.mkdir(parents=True)
    (folder / "r.pkl").write_bytes(pickle.dumps(1))
    listing = tmp_path / "cache" / "e_h_s_reportables_file_list.json"
    found = listed_reportables(str(listing), ["elsewhere/cache/e_h_s_reportables/r.pkl"])
    assert found == [str(folder / "r.pkl")]
