"""The jinja2 report page (``views.report.page``): a big sweep summarised.

User data escaped and author HTML kept, which needs a run's cache, is in
tests/cli/test_report_page.py."""

from __future__ import annotations

import pytest
from helpers import tracing_in_process, write_project

from cfcompile.views.report.page import build_report

PARAMS = """
    from dataclasses import dataclass
    import cfcompile as cf

    @dataclass
    class Params(cf.ExperimentParameters):
        x: int = 1
        rate: float = 0.5
        flag: bool = True
        label: str = "plain"
"""


BIG = {
    "params/__init__.py": PARAMS,
    "params/many.py": """
        from params import Params

        def get_params():
            return [Params(name=f"p{i}", x=i, rate=i / 7) for i in range(2000)]
    """,
    "experiments/sweep.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        @cf.stage(outputs=["v"], cachers=[JsonCacher])
        def make(record):
            return record.params.x

        @cf.aggregate(inputs=["v"], outputs=["s"], cachers=[JsonCacher])
        def summary(record, records, v):
            return sum(v.values())

        def run(param_sets, manager):
            for p in param_sets:
                make(cf.Record(manager, p))
            summary(cf.Record(manager, None))
    """,
}


@pytest.fixture
def traced(tmp_path):
    with tracing_in_process(tmp_path) as trace:
        yield trace


def test_two_thousand_sets_are_summarised(tmp_path, traced):
    root = write_project(tmp_path / "proj", BIG)
    sg, plans = traced(root, "sweep", "many")
    assert len(sg.params) == 2000
    page = build_report(sg, plans, None)

    assert len(page.encode()) < 2_000_000
    assert "1950 more rows not shown; see --results / --status" in page  # parameter sets
    assert "1951 more rows not shown; see --results / --status" in page  # nodes (+ aggregate)
    assert page.count("<tr class=") == 50 + 2  # 50 node rows + one count row per stage
    stage_row = '<td>make</td><td class="num">2000</td><td class="num">0</td><td class="num">2000'
    assert stage_row in page
    assert "(Graphviz 'dot' not installed: no picture)" in page
