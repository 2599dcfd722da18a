"""curifactory's API as experiments use it, written for curifactory 0.20.5 (``import curifactory``).

tests/test_curifactory_api.py runs this file with curifactory's own ``experiment`` command, with
``cfcompile --eager`` and compiled through Snakemake, twice each, and compares what they wrote:
the cache files, ``observed.json`` (what run() saw) and ``executions.txt`` (one line per stage
body that ran).
"""

import json
import os

import curifactory as cf
import pandas as pd
from curifactory.caching import (
    JsonCacher,
    PandasCacher,
    PathRef,
    RawJupyterNotebookCacher,
)
from curifactory.hashing import add_params_combo_hash, param_set_string_hash_representations
from curifactory.reporting import (
    ImageReporter,
    JsonReporter,
    LatexTableReporter,
    LinePlotReporter,
)

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


def _ran(what):
    with open("executions.txt", "a") as f:
        f.write(what + "\n")


# -- record.stage_cachers, PathRef, reportables -----------------------------------------------
@cf.stage([], ["seen"], [JsonCacher])
def sees_cachers(record):
    _ran(f"sees_cachers {record.params.name}")
    record.report(JsonReporter({"x": record.params.x}, name="json"))
    frame = pd.DataFrame({"a": [1, 2]})
    record.report(LatexTableReporter(frame, name="latex"))
    record.report(LinePlotReporter(y={"up": [1, 2, 3]}, name="line"))
    image = f"picture_{record.params.name}.png"
    with open(image, "wb") as f:
        f.write(PNG)
    record.report(ImageReporter(image, name="image"))
    return [f"{type(c).__name__}:{os.path.basename(c.get_path())}" for c in record.stage_cachers]


@cf.stage([], ["ref"], [PathRef])
def writes_path(record):
    _ran(f"writes_path {record.params.name}")
    path = record.stage_cachers[0].get_path()
    with open(path, "w") as f:
        f.write(f"x={record.params.x}")
    return path


@cf.stage(["ref"], ["ref_read"], [JsonCacher])
def reads_path(record, ref):
    _ran(f"reads_path {record.params.name}")
    with open(ref) as f:
        return {"text": f.read(), "file": os.path.basename(ref)}


# -- pandas formats and the notebook cacher ---------------------------------------------------
@cf.stage(
    [],
    ["df_orc", "df_xml"],
    [
        PandasCacher(format="orc"),
        PandasCacher(
            format="xml", to_args={"index": False, "parser": "etree"}, read_args={"parser": "etree"}
        ),
    ],
)
def frames(record):
    _ran(f"frames {record.params.name}")
    frame = pd.DataFrame({"a": [1, record.params.x], "b": [0.5, 1.5]})
    return frame, frame


@cf.stage(["df_orc", "df_xml"], ["frames_back"], [JsonCacher])
def frames_back(record, df_orc, df_xml):
    _ran(f"frames_back {record.params.name}")
    return {"orc": df_orc.to_dict(orient="list"), "xml": df_xml.to_dict(orient="list")}


@cf.stage([], ["notebook"], [RawJupyterNotebookCacher])
def notebook(record):
    _ran(f"notebook {record.params.name}")
    return [["# imports", "import json"], [f"x = {record.params.x}"]]


# -- Procedure ----------------------------------------------------------------------------------
@cf.stage([], ["n"], [JsonCacher])
def make_n(record):
    _ran(f"make_n {record.params.name}")
    return record.params.x


@cf.stage(["n"], ["doubled"], [JsonCacher])
def double(record, n):
    _ran(f"double {record.params.name}")
    return 2 * n


@cf.aggregate(["doubled"], ["total"], [JsonCacher])
def total(record, records, doubled):
    _ran("total")
    return sum(doubled.values())


CHAIN = cf.Procedure([make_n, double], name="chain")
SUMMARY = cf.Procedure([total], previous_proc=CHAIN, name="summary")


# -- records that never reuse their cache (curifactory's Cacheable.check) ---------------------
@cf.aggregate([], ["count"], [JsonCacher])
def lonely(record, records):
    _ran("lonely")
    return len(records)


@cf.stage([], ["value"], [JsonCacher])
def unparameterised(record):
    _ran("unparameterised")
    return 1


# -- errors, raised when the stage is called ----------------------------------------------------
@cf.stage([], ["a", "b"], [JsonCacher])
def bad_cacher_count(record):
    return 1, 2


@cf.stage([], [], [])
def bad_empty_cachers(record):
    pass


@cf.stage(["a"], ["b"])
def bad_signature(record, not_a):
    return 1


@cf.stage(["a"], ["b"], suppress_missing_inputs=True)
def bad_suppress(record, a):
    return 1


@cf.stage([], [cf.Lazy("big")])
def bad_lazy(record):
    return 1


@cf.stage(["nowhere"], ["b"])
def needs_missing(record, nowhere):
    return 1


def _raised(stage, record, **kwargs):
    try:
        stage(record, **kwargs)
    except Exception as exc:  # noqa: BLE001 - what was raised is the observation
        kinds = [
            KeyError,
            cf.CachersMismatchError,
            cf.EmptyCachersError,
            cf.InputSignatureError,
            cf.OutputSignatureError,
        ]
        return [kind.__name__ for kind in kinds if isinstance(exc, kind)]
    return None


def run(param_sets, manager):
    observed = {}
    first = cf.Record(manager, param_sets[0])
    observed["get_path_before_any_stage"] = os.path.basename(first.get_path("thing"))
    observed["dry"] = param_sets[0].params_hash(dry=True)
    observed["string_reps"] = param_set_string_hash_representations(param_sets[0])
    calls = [
        (bad_cacher_count, {}),
        (bad_empty_cachers, {}),
        (bad_signature, {}),  # the missing input comes first: KeyError
        (bad_signature, {"a": 1}),
        (bad_suppress, {}),
        (bad_lazy, {}),
        (needs_missing, {}),
    ]
    observed["errors"] = [
        [stage.__name__, _raised(stage, cf.Record(manager, param_sets[0], hide=True), **kwargs)]
        for stage, kwargs in calls
    ]
    records = []
    for i, params in enumerate(param_sets):
        record = first if i == 0 else cf.Record(manager, params)
        reads_path(writes_path(sees_cachers(record)))
        frames_back(frames(record))
        notebook(record)
        records.append(record)
        CHAIN.run(params, manager=manager)
    SUMMARY.run(None, manager=manager)
    observed["combo"] = add_params_combo_hash(SUMMARY.record, records, None)
    lonely(cf.Record(manager, None), [])
    unparameterised(cf.Record(manager, None))
    with open("observed.json", "w") as f:
        json.dump(observed, f, indent=1, default=str)
