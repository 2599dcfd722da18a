"""What a researcher sees: the results files and table, and the report in a real browser.

The browser tests look at the rendered page, not at strings in the HTML: Chromium loads the
report, the page's own script records what it shows (rows, plots, the sorted column) as data
attributes on <body>, sorting goes through the real click handler, and a screenshot's plot
area must contain the plot's colours. Set CFCOMPILE_SCREENSHOTS=DIR to keep the screenshots
there (docs/screenshots holds the ones the documentation shows).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import REPO, body_data, browse, compiled_info, find_chromium, run_cli

from cfcompile.core.workdir import current_version, log_path, record_failure
from cfcompile.errors import CfcompileError
from cfcompile.runtime.results_writer import PROVENANCE, selection_label
from cfcompile.views.report.history import write_report
from cfcompile.views.results_table import print_table, sort_rows

PARAMS = """
    from dataclasses import dataclass
    import cfcompile as cf

    @dataclass
    class Params(cf.ExperimentParameters):
        x: int = 1
        rate: float = 0.5
        seed: int = 0
"""

SMALL = {
    "params/__init__.py": PARAMS,
    "params/grid.py": """
        from params import Params

        def get_params():
            return [Params(name=f"g{x}_seed{s}", x=x, seed=s) for x in (1, 2, 3) for s in (0, 1)]
    """,
    "params/other.py": """
        from params import Params

        def get_params():
            return [Params(name="o", x=9, rate=0.25)]
    """,
    "experiments/exp.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher, PickleCacher

        @cf.stage(outputs=["model"], cachers=[PickleCacher], metrics=["model"])
        def fit(record):
            return record.params.x * 10  # a pickled output, a metric because it is declared

        @cf.stage(inputs=["model"], outputs=["scores"], cachers=[JsonCacher])
        def score(record, model):
            p = record.params
            return {"loss": 1.0 / p.x + 0.01 * p.seed, "acc": 0.5 + p.x / 10}

        def run(param_sets, manager):
            for p in param_sets:
                score(fit(cf.Record(manager, p)))
    """,
}

BIG = {
    "params/__init__.py": """
        from dataclasses import dataclass
        import cfcompile as cf

        @dataclass
        class Params(cf.ExperimentParameters):
            lr: float = 0.1
            width: int = 8
            optimizer: str = "sgd"
            seed: int = 0
    """,
    "params/many.py": '''
        """10 learning rates x 20 widths x 10 seeds = 2,000 parameter sets."""
        from cfcompile.sweeps import grid, repeat
        from params import Params

        def get_params():
            lrs = [0.001 * 2**i for i in range(10)]
            widths = [4 * (i + 1) for i in range(20)]
            sets = []
            for config in grid(Params(name="net"), lr=lrs, width=widths):
                sets.extend(repeat(config, k=10))
            return sets
    ''',
    "experiments/sweep.py": """
        import math
        import random

        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        @cf.stage(outputs=["model"], cachers=[JsonCacher])
        def train(record):
            p = record.params
            rng = random.Random(p.seed * 7919 + p.width)
            loss = (math.log10(p.lr) + 1.7) ** 2 + 4.0 / p.width + rng.gauss(0, 0.05)
            return [p.width, loss]  # a list: not a metric

        @cf.stage(inputs=["model"], outputs=["scores"], cachers=[JsonCacher])
        def evaluate(record, model):
            return {"loss": model[1], "accuracy": 1 / (1 + math.exp(model[1] - 1))}

        def run(param_sets, manager):
            for p in param_sets:
                evaluate(train(cf.Record(manager, p)))
    """,
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def results_main(root: Path) -> None:
    """What the compiled workflow's final rule runs, on the newest compiled version."""
    version = current_version(str(root / ".cfcompile" / "exp"))
    subprocess.run(
        [sys.executable, "-m", "cfcompile.results", version],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


# -- the results files --------------------------------------------------------------------------
def test_selection_labels_are_file_names_that_never_collide():
    assert selection_label(["params.study", "params.random"]) == "study+random"
    assert selection_label(["experiments.iris"]) == "iris"  # no -p: the experiment's get_params
    odd = selection_label(["params.sub/dir", "params.a b"])
    assert re.fullmatch(r"sub_dir\+a_b-[0-9a-f]{8}", odd)  # changed by sanitising: digest
    assert odd != selection_label(["params.sub_dir", "params.a_b"])
    long = selection_label([f"params.module_number_{i}" for i in range(10)])
    assert len(long) <= 60 and re.search(r"-[0-9a-f]{8}$", long)
    assert long != selection_label([f"params.module_number_{i}" for i in range(11)])


def test_results_per_selection_with_columns_in_reading_order(project):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    root = project(SMALL)
    run_cli("exp", "-p", "grid", "--eager", cwd=root)
    run_cli("exp", "-p", "grid", "-o", str(root / "Snakefile"), cwd=root)
    results_main(root)
    grid_file = root / "results" / "exp-grid.jsonl"
    rows = read_jsonl(grid_file)
    assert [r["name"] for r in rows] == [f"g{x}_seed{s}" for x in (1, 2, 3) for s in (0, 1)]
    expected = ["name", "status", "model", "loss", "acc", "x", "rate", "seed"]
    expected += ["time_fit", "time_score", *PROVENANCE]
    assert all(list(r) == expected for r in rows)  # every row, every column, in this order
    assert rows[2]["model"] == 20 and rows[2]["loss"] == 0.5 and rows[2]["status"] == "done"
    start, end = (datetime.fromisoformat(rows[0][k]) for k in ("start", "end"))
    assert start.tzinfo is not None and start <= end  # ISO 8601 with its offset, not epoch
    assert abs(start - datetime.now().astimezone()) < timedelta(minutes=10)

    table = pq.read_table(root / "results" / "exp-grid.parquet")
    assert table.column_names == expected and table.num_rows == 6
    assert pa.types.is_timestamp(table.schema.field("start").type)
    assert pa.types.is_floating(table.schema.field("loss").type)
    assert (root / "results" / "exp.jsonl").read_text() == grid_file.read_text()  # the latest

    # another selection gets its own file; the first stays as it was
    before = grid_file.read_text()
    run_cli("exp", "-p", "other", "--eager", cwd=root)
    run_cli("exp", "-p", "other", "-o", str(root / "Snakefile"), cwd=root)
    results_main(root)
    assert grid_file.read_text() == before
    assert [r["name"] for r in read_jsonl(root / "results" / "exp-other.jsonl")] == ["o"]
    assert [r["name"] for r in read_jsonl(root / "results" / "exp.jsonl")] == ["o"]
    assert (root / "results" / "exp-other.parquet").exists()

    # a set whose scores are gone keeps every column, empty, and says which stage is missing
    # one job per node, so that the node's own log (faked below) is the one to link
    run_cli("exp", "-p", "grid", "-o", str(root / "Snakefile"), "--batch", "1", cwd=root)
    key = dict(compiled_info(root, "exp")["param_sets"])["g2_seed1"]
    (root / "data" / "cache" / f"exp_{key}_score_scores.json").unlink()
    results_main(root)
    row = read_jsonl(grid_file)[3]
    assert row["status"] == "missing (score)" and row["loss"] is None and list(row) == expected


def test_terminal_table_top_columns_and_alignment(capsys):
    rows = [
        {"name": "a", "status": "done", "loss": 0.5, "x": 1, "hash": "h1"},
        {"name": "bb", "status": "done", "loss": 12.25, "x": 10, "hash": "h2"},
        {"name": "c", "status": "failed (fit)", "loss": None, "x": 100, "hash": "h3"},
    ]
    ordered = sort_rows(rows, "loss", desc=True)
    assert [r["name"] for r in ordered] == ["bb", "a", "c"]  # no value: last either way
    print_table(ordered, top=2)
    out = capsys.readouterr().out
    assert "top 2 of 3 parameter set(s)" in out and " c " not in out and "h1" not in out
    header = next(line for line in out.splitlines() if "name" in line)
    assert header.index("status") < header.index("loss") < header.index("x")
    lines = [line for line in out.splitlines() if "done" in line]
    ends = {lines[0].index("12.25") + len("12.25"), lines[1].index("0.5") + len("0.5")}
    assert len(ends) == 1  # numbers right-aligned: their last digits line up

    print_table(rows, columns=["x", "hash"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "name" in line)
    assert re.findall(r"\w+", header) == ["name", "x", "hash"]  # name, then as asked
    with pytest.raises(CfcompileError, match="no such column"):
        print_table(rows, columns=["los"])


# -- the report ---------------------------------------------------------------------------------
def test_report_history_keeps_every_report_and_an_index(tmp_path):
    folder = tmp_path / "reports"
    t0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    page = '<html><head><meta name="cfcompile-summary" content="{}"></head></html>'
    first = write_report(page.format("2 sets: 2 done"), str(folder), "exp", t0)
    write_report(page.format("2 sets: 1 failed"), str(folder), "exp", t0)  # the same second
    last = write_report(page.format("&lt;b&gt;"), str(folder), "exp", t0 + timedelta(hours=1))
    assert Path(first["stamped"]).name == "exp-20240501T120000.html"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "exp-20240501T120000-2.html",
        "exp-20240501T120000.html",
        "exp-20240501T130000.html",
        "exp.html",
        "index.html",
    ]
    assert Path(last["latest"]).read_text() == Path(last["stamped"]).read_text()
    index = (folder / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', index)
    assert links == [  # newest first
        "exp-20240501T130000.html",
        "exp-20240501T120000-2.html",
        "exp-20240501T120000.html",
    ]
    assert "2 sets: 1 failed" in index and "&lt;b&gt;" in index and "<b>" not in index


def test_report_says_what_failed_and_links_its_log(project):
    root = project(SMALL)
    run_cli("exp", "-p", "grid", "--eager", cwd=root)
    # one job per node, so that the node's own log (faked below) is the one to link
    run_cli("exp", "-p", "grid", "-o", str(root / "Snakefile"), "--batch", "1", cwd=root)
    key = dict(compiled_info(root, "exp")["param_sets"])["g2_seed1"]
    (scores,) = (root / "data" / "cache").glob(f"exp_{key}_score_scores.json")
    scores.unlink()
    workdir = str(root / ".cfcompile" / "exp")
    try:
        raise ValueError("loss diverged <inf>")
    except ValueError as exc:
        record_failure(workdir, ("score", key), exc, time.time(), False)
    log = Path(log_path(workdir, ("score", key), None))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("Traceback ...\n")
    path = run_cli("exp", "-p", "grid", "--report", cwd=root).stdout.strip()
    page = Path(path).read_text()
    start = page.index('<table id="failures-table">')
    failures = page[start : page.index("</table>", start)]
    assert "ValueError: loss diverged &lt;inf&gt;" in failures and "g2_seed1" in failures
    assert f'href="{log.as_uri()}"' in failures
    assert '<tr class="failed"><td>g2_seed1</td><td>failed (score)</td>' in page
    assert 'content="6 parameter set(s): 5 done, 1 failed"' in page


def test_report_finds_the_version_of_its_selection(project):
    root = project(SMALL)
    run_cli("exp", "-p", "grid", "-o", str(root / "Snakefile"), cwd=root)
    run_cli("exp", "-p", "other", "-o", str(root / "Snakefile"), cwd=root)  # now current
    page = Path(run_cli("exp", "-p", "grid", "--report", cwd=root).stdout.strip()).read_text()
    assert 'content="6 parameter set(s): 6 missing"' in page  # grid's version, not other's
    assert page.count('<tr class="missing">') == 6

    workdir = root / ".cfcompile" / "exp"
    current = Path(current_version(str(workdir)))
    for folder in (workdir / "v").iterdir():
        if folder != current:
            shutil.rmtree(folder)
    page = Path(run_cli("exp", "-p", "grid", "--report", cwd=root).stdout.strip()).read_text()
    assert 'content="6 parameter set(s): 6 not in the compiled version"' in page
    assert "6 parameter set(s) of this selection are not in the compiled version" in page


# -- in a real browser ---------------------------------------------------------------------------
def chromium_or_skip() -> str:
    for module in ("matplotlib", "PIL", "pyarrow"):
        pytest.importorskip(module)
    return find_chromium()


def result_rows(dom: str) -> list[list[str]]:
    """The results table's rows as the browser left them: [name, status, ...] per row."""
    start = dom.index('id="results-table"')
    body = dom[dom.index("<tbody>", start) : dom.index("</tbody>", start)]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def look_at_plot(chromium: str, path: str, tmp_path: Path, name: str) -> dict[str, float]:
    """Screenshot the page down to its first plot; the share of ink and of data colours there."""
    import numpy as np
    from PIL import Image

    box = [int(v) for v in body_data(browse(chromium, f"file://{path}", tmp_path / "p"))
           ["plot-box"].split(",")]  # fmt: skip
    x, y, w, h = box
    shot = tmp_path / f"{name}.png"
    browse(chromium, f"file://{path}", tmp_path / "p", shot, height=max(1800, y + h + 200))
    keep = os.environ.get("CFCOMPILE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, os.path.join(keep, f"{name}.png"))
    with Image.open(shot) as image:
        area = np.asarray(image.convert("RGB").crop((x, y, x + w, y + h)), dtype=int)

    def near(colour: tuple[int, int, int], tolerance: int = 60) -> int:
        return int((np.abs(area - colour).sum(axis=2) < tolerance).sum())

    return {
        "ink": float((area.min(axis=2) < 200).mean()),
        "blue": near((31, 119, 180)),  # the points and error bars
        "red": near((214, 39, 40)),  # the line through the means
    }


def test_iris_report_in_chromium_sorts_and_draws(iris_copy, tmp_path):
    chromium = chromium_or_skip()
    pytest.importorskip("sklearn")
    root = iris_copy
    run_cli("iris", "-p", "base", "--eager", cwd=root)
    run_cli("iris", "-p", "base", "-o", str(root / "Snakefile"), cwd=root)
    path = run_cli("iris", "-p", "base", "--report", cwd=root).stdout.strip()
    table = [json.loads(x) for x in _collect_lines(root, "iris")]

    dom = browse(chromium, f"file://{path}#click=accuracy,accuracy", tmp_path / "p")
    data = body_data(dom)
    assert data["result-rows"] == "6" and data["plots"] == "2"  # model_type, n, balanced: one
    assert data["sorted"] == "accuracy:desc"  # two clicks on the header: descending
    shown = result_rows(dom)
    best_first = sorted(table, key=lambda r: -r["accuracy"])  # stable, as the page's sort
    assert [r[0] for r in shown] == [r["name"] for r in best_first]
    assert data["first-row"] == best_first[0]["name"]

    dom = browse(chromium, f"file://{path}#sort=f1_macro", tmp_path / "p")
    assert body_data(dom)["sorted"] == "f1_macro:asc"
    assert result_rows(dom)[0][0] == min(table, key=lambda r: r["f1_macro"])["name"]
    assert 'aria-sort="ascending"' in dom

    seen = look_at_plot(chromium, path, tmp_path, "report-iris")
    # model_type is categorical: points and error bars, no line joining the categories
    assert seen["ink"] > 0.03 and seen["blue"] > 20 and seen["red"] < 20, seen


def test_two_thousand_sets_report_in_chromium(project, tmp_path):
    chromium = chromium_or_skip()
    root = project(BIG)
    run_cli("sweep", "-p", "many", "--eager", cwd=root)
    run_cli("sweep", "-p", "many", "-o", str(root / "Snakefile"), cwd=root)
    path = run_cli("sweep", "-p", "many", "--report", cwd=root).stdout.strip()
    assert os.path.getsize(path) < 2_000_000
    table = [json.loads(x) for x in _collect_lines(root, "sweep")]
    assert len(table) == 2000

    dom = browse(chromium, f"file://{path}#click=loss", tmp_path / "p")
    data = body_data(dom)
    assert data["result-rows"] == "2000" and data["plots"] == "4"  # loss, accuracy x lr, width
    assert data["sorted"] == "loss:asc"
    assert data["first-row"] == min(table, key=lambda r: r["loss"])["name"]
    assert '<p class="more">1950 more rows not shown' in dom  # parameter sets, summarised
    assert "200 configuration(s)" in dom

    seen = look_at_plot(chromium, path, tmp_path, "report-2000")
    assert seen["ink"] > 0.03 and seen["blue"] > 100 and seen["red"] > 20, seen


def _collect_lines(root: Path, experiment: str) -> list[str]:
    """The results rows of the newest compiled version, as the final rule would write them."""
    version = current_version(str(root / ".cfcompile" / experiment))
    proc = subprocess.run(
        [sys.executable, "-c", _COLLECT, version],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return proc.stdout.splitlines()


_COLLECT = (
    "import json, sys\n"
    "from cfcompile.runtime.results_writer import collect\n"
    "for row in collect(sys.argv[1]):\n"
    "    print(json.dumps(row))\n"
)


def test_a_names_subset_gets_its_own_results_file(project, tmp_path, monkeypatch):
    """--names/--indices never overwrite the table of the whole -p selection."""
    from helpers import CHAIN

    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    root = project(CHAIN)
    run_cli("chain", "-p", "few", "--eager", cwd=root)
    run_cli("chain", "-p", "few", "--results", cwd=root)
    run_cli("chain", "-p", "few", "--names", "s1", "--results", cwd=root)
    tables = sorted(p.name for p in (root / "results").glob("chain-few*.jsonl"))
    assert len(tables) == 2 and "chain-few.jsonl" in tables, tables
    whole = (root / "results" / "chain-few.jsonl").read_text().splitlines()
    assert len(whole) == 3
