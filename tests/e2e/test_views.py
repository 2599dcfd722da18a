"""--dry-run reasons and costs, DAG formats and collapsing, the HTML report in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from helpers import CHAIN, body_data, browse, find_chromium, run_cli

RESOURCES = CHAIN["experiments/chain.py"].replace(
    '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher])',
    '@cf.stage(inputs=["a", "big"], outputs=["b"], cachers=[JsonCacher],\n'
    '          resources={"runtime": 30, "gpu": 1}, threads=2)',
)


@pytest.fixture
def chain(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    return project({**CHAIN, "experiments/chain.py": RESOURCES})


def plan_json(root, *extra):
    return json.loads(run_cli("chain", "-p", "few", "--dry-run", "--json", *extra, cwd=root).stdout)


def reasons(summary):
    return {
        (n["stage"], n["params"]): n["reason"] for n in summary["nodes"] if n["status"] == "run"
    }


def test_dry_run_reasons_and_costs(chain):
    fresh = plan_json(chain)
    assert fresh["totals"]["run"] == 7
    assert {s for (s, _), why in reasons(fresh).items() if why == "output missing"} == {"first"}
    assert fresh["totals"]["core_hours"] == 3 * 0.5 * 2 and fresh["totals"]["gpu_hours"] == 1.5
    assert fresh["totals"]["nodes_without_declared_runtime"] == 4
    run_cli("chain", "-p", "few", "--eager", cwd=chain)
    assert plan_json(chain)["totals"]["run"] == 0

    cache = chain / "data" / "cache"
    summary = plan_json(chain)
    h1 = next(n["hash"] for n in summary["nodes"] if n["params"] == "s1")
    h2 = next(n["hash"] for n in summary["nodes"] if n["params"] == "s2")
    (cache / f"chain_{h1}_first_a.json").unlink()  # deleted outputs (both: one alone is partial)
    (cache / f"chain_{h1}_first_big.pkl").unlink()
    big = cache / f"chain_{h2}_first_big.pkl"  # interrupted: one output gone, a staged copy left
    staging = cache / ".cfcompile-tmp-deadbeef"
    staging.mkdir()
    big.rename(staging / big.name)
    r = reasons(plan_json(chain))
    assert r[("first", "s1")] == "output missing"
    assert r[("second", "s1")] == "upstream node will rerun"
    assert r[("first", "s2")] == "incomplete output from an interrupted run"
    assert r[("total", None)] == "upstream node will rerun"
    assert ("first", "s0") not in r and len(r) == 5

    text = run_cli("chain", "-p", "few", "--dry-run", cwd=chain).stdout
    assert "output missing: 1 (s1)" in text and "incomplete output from an interrupted run" in text
    assert re.search(r"total\s*│\s*7\s*│\s*2\s*│\s*5", text), text


def test_declared_resources_reach_the_snakefile(chain):
    snakefile = run_cli("chain", "-p", "few", "--batch", "1", cwd=chain).stdout
    rule = snakefile[snakefile.index("rule second:") :].split("\nrule ")[0]
    # declared runtime, doubled on a retried attempt; the GPU as declared
    assert "threads: 2" in rule
    assert "resources: runtime=lambda wildcards, attempt: 30 * attempt, gpu=1" in rule


def test_dry_run_overwrite_reason(chain):
    run_cli("chain", "-p", "few", "--eager", cwd=chain)
    (chain / "params" / "ow.py").write_text(
        "from params import Params\n\n"
        "def get_params():\n"
        "    return [Params(name='s0', x=0), Params(name='s1', x=1, overwrite=True)]\n"
    )
    r = json.loads(run_cli("chain", "-p", "ow", "--dry-run", "--json", cwd=chain).stdout)
    assert reasons(r) == {
        ("first", "s1"): "overwrite set",
        ("second", "s1"): "overwrite set",
        ("total", None): "overwrite set",
    }


def test_dry_run_does_not_start_snakemake(chain):
    probe = (
        "import sys\nfrom cfcompile.cli import main\n"
        "main(['chain', '-p', 'few', '--dry-run', '--json', '-q'])\n"
        "print('SNAKEMAKE' if any(m.startswith('snakemake') for m in sys.modules) else 'CLEAN')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=chain, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("CLEAN")


def test_dag_formats(chain):
    dot = run_cli("chain", "-p", "few", "--dag", cwd=chain).stdout
    assert dot.startswith("digraph") and dot.count("->") == 3 * 2 + 3  # a+big per chain, b -> total
    mermaid = run_cli("chain", "-p", "few", "--dag", "mermaid", cwd=chain).stdout
    edges = [ln for ln in mermaid.splitlines() if "-->" in ln]
    assert len(edges) == 9  # one per artifact edge: a, big (x3), b (x3 into total)
    assert mermaid.startswith("flowchart LR")
    if not shutil.which("dot"):
        pytest.skip("Graphviz not installed (scripts/install-system-deps.sh)")
    parsed = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
    assert parsed.returncode == 0 and "<svg" in parsed.stdout
    run_cli("chain", "-p", "few", "--dag", "svg", "-o", "dag.svg", cwd=chain)
    assert (chain / "dag.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    run_cli("chain", "-p", "few", "--dag", "png", "-o", "dag.png", cwd=chain)
    assert (chain / "dag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dag_collapses_big_graphs_and_escapes_labels(project, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAIN_LOG", str(tmp_path / "log"))
    files = dict(CHAIN)
    files["params/big.py"] = """
        from params import Params

        def get_params():
            sets = [Params(name=f"p{i}", x=i) for i in range(60)]
            sets.append(Params(name='q"uote\\\\n}{[x]', x=999))
            return sets
    """
    root = project(files)
    auto = run_cli("chain", "-p", "big", "--dag", cwd=root).stdout  # 61*2+1 = 123 nodes: full
    assert auto.count("label=") > 100
    files["params/big.py"] = files["params/big.py"].replace("range(60)", "range(200)")
    (root / "params" / "big.py").write_text(
        (root / "params" / "big.py").read_text().replace("range(60)", "range(200)")
    )
    stages = run_cli("chain", "-p", "big", "--dag", cwd=root).stdout  # 403 nodes: collapsed
    boxes = [ln for ln in stages.splitlines() if "fillcolor" in ln]
    assert len(boxes) == 3 and "201 node(s): 0 cached, 201 to run" in stages
    full = run_cli("chain", "-p", "big", "--dag", "--dag-level", "full", cwd=root).stdout
    if shutil.which("dot"):
        parsed = subprocess.run(["dot", "-Tsvg"], input=full, capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr  # the quoting survives a hostile name
    mermaid = run_cli(
        "chain", "-p", "big", "--dag", "mermaid", "--dag-level", "full", cwd=root
    ).stdout
    assert "#quot;" in mermaid and 'q"uote' not in mermaid


REPORTING = {
    **CHAIN,
    "experiments/rep.py": """
        import cfcompile as cf
        from cfcompile.caching import JsonCacher
        from cfcompile.reporting import FigureReporter, HTMLReporter, JsonReporter

        @cf.stage(outputs=["v"], cachers=[JsonCacher])
        def make(record):
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(3, 2))
            ax.plot([0, 1, 2], [record.params.x, 1, 0])
            record.report(FigureReporter(fig, name="curve"))
            record.report(JsonReporter({"x": record.params.x}, name="numbers"))
            return record.params.x

        @cf.aggregate(inputs=["v"], outputs=["s"], cachers=[JsonCacher])
        def summary(record, records, v):
            record.report(HTMLReporter("<p id='agg-html'>sum is %d</p>" % sum(v.values())))
            return sum(v.values())

        def run(param_sets, manager):
            for p in param_sets:
                make(cf.Record(manager, p))
            summary(cf.Record(manager, None))
    """,
}


def test_report_renders_in_headless_chromium(project, tmp_path):
    pytest.importorskip("matplotlib")
    chromium = find_chromium()
    if not shutil.which("dot"):
        pytest.skip("Graphviz not installed (scripts/install-system-deps.sh)")
    root = project(REPORTING)
    run_cli("rep", "-p", "few", "--eager", cwd=root)
    path = run_cli("rep", "-p", "few", "--report", cwd=root).stdout.strip()
    page = open(path).read()
    assert "<svg" in page and "data:image/png;base64," in page and "agg-html" in page
    dom = browse(chromium, f"file://{path}", tmp_path / "chromium")
    attrs = body_data(dom)
    assert attrs["images"] == attrs["images-loaded"] == "3"  # one figure per parameter set
    assert int(attrs["dag-width"]) > 100
    assert attrs["reportables"] == "7"  # figure + json per set, one html for the aggregate
    assert "sum is 3" in dom and "&quot;x&quot;: 2" in dom or '"x": 2' in dom
