"""The report's analysis of a results table (``views.report.plots``, with
``views.report.results_part``): repetitions grouped, statuses counted, the axes chosen."""

from __future__ import annotations

import pytest

from cfcompile.runtime.results_writer import METRIC, PARAM, Table
from cfcompile.views.report import plots, results_part


def table(rows):
    kinds = {"name": "identity", "status": "identity", "acc": METRIC, "x": PARAM, "seed": PARAM}
    return Table([{k: r.get(k) for k in kinds} for r in rows], kinds)


def test_the_report_groups_repetitions_and_counts_statuses():
    t = table(
        [
            {"name": "x1_seed0", "status": "done", "acc": 0.1, "x": 1, "seed": 0},
            {"name": "x1_seed1", "status": "done", "acc": 0.3, "x": 1, "seed": 1},
            {"name": "x3_seed0", "status": "failed (fit)", "acc": None, "x": 3, "seed": 0},
        ]
    )
    varied, repeats, constant = plots.split_parameters(t)
    assert (varied, repeats, constant) == (["x"], ["seed"], {})
    configs = plots.configurations(t, repeats, ["acc"])
    assert [c.name for c in configs] == ["x1", "x3"]
    st = configs[0].stats["acc"]
    assert (round(st.mean, 6), round(st.std, 6), st.n) == (0.2, 0.1, 2)
    assert "acc" not in configs[1].stats
    assert (configs[1].finished, configs[1].failed, configs[1].counts(repeats)) == (
        0,
        1,
        "1 seed failed",
    )
    part = results_part.results_part(t)
    assert dict(part["counts"]) == {"done": 2, "failed": 1}
    assert results_part.results_part(None)["result_rows"] == []


@pytest.mark.parametrize(
    ("values", "numeric", "scale", "integer"),
    [
        ([True, False, True], False, "linear", False),  # two categories, not a line
        (["rf", "svm"], False, "linear", False),
        ([1, 2, 3], True, "linear", True),  # whole-number ticks
        ([0.0, 0.1, 1.0], True, "symlog", False),  # log-spaced with a 0
        ([0.001, 0.01, 0.1], True, "log", False),
        ([10, 20, 30], True, "linear", True),
    ],
)
def test_the_plot_axis_follows_the_parameter(values, numeric, scale, integer):
    from cfcompile.views.report.plots import Axis

    axis = Axis(values)
    assert (axis.numeric, axis.scale, axis.integer) == (numeric, scale, integer)
    if scale == "symlog":
        assert axis.linthresh == 0.1
