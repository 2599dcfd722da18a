"""Write a compiled workflow: Snakefile, manifest, node database and workflow settings.

The Snakefile is a security boundary. Nothing a user controls (parameter names and values,
paths, prefixes) is ever spliced into it as code: hashes are hex, stage names are Python
identifiers, and every other string goes in as a Python literal (``repr``) with Snakemake's
``{}`` formatting escaped, and, inside shell commands, shell-quoted first.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import sqlite3
import sys
from importlib import resources as ilr
from typing import Any

from cfcompile.errors import CfcompileError
from cfcompile.graph import StageGraph
from cfcompile.job import marker_path
from cfcompile.publish import replacing, write_atomic
from cfcompile.trace import Node

SNAKEFILE = "Snakefile"
MANIFEST = "manifest.json"
NODES_DB = "nodes.sqlite"
WORKFLOW = "workflow.json"

_HASH = re.compile(r"^(?:[0-9a-f]+|None)$")
_RULE_RESOURCES = ("mem_mb", "runtime", "disk_mb", "gpu", "cpus_per_task")


def brace(text: str) -> str:
    """Escape Snakemake's ``{...}`` formatting in a literal string."""
    return text.replace("{", "{{").replace("}", "}}")


def lit(text: str) -> str:
    return repr(str(text))


def _resource_literal(resources: dict) -> str:
    parts = []
    for key, value in resources.items():
        if (
            key in _RULE_RESOURCES
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            parts.append(f"{key}={value!r}")
        elif isinstance(value, str) and key.isidentifier():
            parts.append(f"{key}={lit(value)}")
    return ", ".join(parts)


def _job_command(python: str, workdir: str, args: str) -> str:
    base = f"{shlex.quote(python)} -m cfcompile.job {shlex.quote(workdir)}"
    return brace(base) + f" {args} > {{log:q}} 2>&1"


def _rule_name(stage: str, taken: set[str]) -> str:
    name = stage if stage != "all" else "stage_all"
    i = 2
    while name in taken:
        name = f"{stage}_{i}"
        i += 1
    taken.add(name)
    return name


BATCH_RULE = "cfcompile_batch"


def batches(sg: StageGraph, batch: int) -> dict[str, list[Node]]:
    """Batch name -> member nodes (trace order): K parameter sets' chains of plain stages."""
    if batch <= 0:
        return {}
    batched = _batchable_stages(sg)
    by_record: dict[str, list[Node]] = {}
    for node in sg.nodes():
        if node.stage in batched:
            by_record.setdefault(node.hash, []).append(node)
    hashes = list(by_record)
    out = {}
    for start in range(0, len(hashes), batch):
        members = [n for h in hashes[start : start + batch] for n in by_record[h]]
        out[str(start // batch)] = sorted(members, key=lambda n: n.order)
    return out


def plan_rules(
    sg: StageGraph, workdir: str, groups: dict[str, list[Node]]
) -> tuple[list[dict], dict, dict, list]:
    """Group nodes into Snakemake rules; ``groups`` are the batches (``batches()``).

    Returns (rules, inputs per rule and wildcard, jobs: name -> member nodes, targets of all).
    Batched nodes are tracked through one completion marker per batch: Snakemake sees a few
    markers instead of every cache file (listing thousands of outputs per rule makes its
    file-to-rule matching quadratic), and the compile step removes the marker of any batch
    with work to do (``write_workflow``).
    """
    python = sys.executable
    force_dir = os.path.join(workdir, "force")
    rules: list[dict] = []
    inputs: dict[str, dict[str, list[str]]] = {}
    jobs: dict[str, list[tuple[str, str]]] = {}
    taken: set[str] = {"all", "cfcompile_results", BATCH_RULE}
    via_marker: dict[str, str] = {}  # a batched node's output -> its batch's marker
    owner: dict[tuple[str, str], str] = {}
    for name, members in groups.items():
        marker = marker_path(workdir, name)
        for n in members:
            owner[n.id] = name
            for t in n.targets():
                via_marker[t] = marker

    def node_inputs(node: Node) -> list[str]:
        paths = []
        for i in node.inputs:
            if i.node is not None and owner.get(i.node) is not None:
                if owner.get(node.id) == owner[i.node]:
                    continue  # produced inside the same batch job
                paths.append(via_marker[i.path])
            else:
                paths.append(i.path)
        if node.force:
            paths.append(os.path.join(force_dir, f"{node.stage}_{node.hash}"))
        return sorted(set(paths))

    if groups:
        every = [n for members in groups.values() for n in members]
        inputs[BATCH_RULE] = {
            name: sorted({p for n in members for p in node_inputs(n)})
            for name, members in groups.items()
        }
        for name, members in groups.items():
            jobs[f"batch_{name}"] = [n.id for n in members]
        rules.append(
            dict(
                name=BATCH_RULE,
                key_lit=lit(BATCH_RULE),
                wildcard=True,
                outputs_lit=lit(brace(os.path.join(workdir, "batches")) + "/{hash}.done"),
                log_lit=lit(brace(os.path.join(workdir, "logs", "batches")) + "/{hash}.log"),
                threads=max(n.threads for n in every),
                resources=_resource_literal(_max_resources(every)),
                retries=max(n.retries for n in every),
                shell_lit=lit(_job_command(python, workdir, "--batch batch_{wildcards.hash}")),
            )
        )
    # -- one wildcard rule per (stage, output pattern) --------------------------------------
    patterns: dict[tuple[str, tuple[str, ...] | None], list[Node]] = {}
    for node in sg.nodes():
        if node.id not in owner:
            patterns.setdefault((node.stage, _pattern(node)), []).append(node)
    for (stage, pattern), members in patterns.items():
        for concrete in [members] if pattern is not None else [[m] for m in members]:
            name = _rule_name(stage, taken)
            if pattern is not None:
                inputs[name] = {n.hash: node_inputs(n) for n in concrete}
                outs = list(pattern)
                shell = _job_command(python, workdir, f"--stage {stage} --hash {{wildcards.hash}}")
                log = brace(os.path.join(workdir, "logs", stage)) + "/{hash}.log"
            else:  # paths that do not contain the hash: one concrete rule for this node
                node = concrete[0]
                inputs[name] = {"-": node_inputs(node)}
                outs = [brace(t) for t in node.targets()]
                shell = _job_command(python, workdir, f"--stage {stage} --hash {node.hash}")
                log = brace(os.path.join(workdir, "logs", stage, f"{node.hash}.log"))
            jobs[name] = [n.id for n in concrete]
            first = concrete[0]
            rules.append(
                dict(
                    name=name,
                    key_lit=lit(name),
                    wildcard=pattern is not None,
                    outputs_lit=", ".join(lit(o) for o in outs),
                    log_lit=lit(log),
                    threads=first.threads,
                    resources=_resource_literal(first.job_resources()),
                    retries=first.retries,
                    shell_lit=lit(shell),
                )
            )
    targets = [marker_path(workdir, name) for name in groups]
    targets += [t for n in sg.nodes() if n.id not in owner for t in n.targets()]
    return rules, inputs, jobs, targets


def _pattern(node: Node) -> tuple[str, ...] | None:
    """The node's targets with its hash as the ``{hash}`` wildcard, if that round-trips."""
    if not _HASH.match(node.hash):
        return None
    out = []
    for target in node.targets():
        escaped = brace(target)
        if node.hash not in escaped:
            return None
        pattern = escaped.replace(node.hash, "{hash}")
        if pattern.replace("{hash}", node.hash).replace("{{", "{").replace("}}", "}") != target:
            return None
        out.append(pattern)
    return tuple(out)


def _batchable_stages(sg: StageGraph) -> set[str]:
    """Stages whose every node is a non-aggregate fed only by non-aggregates or sources."""
    bad: set[str] = set()
    stages: set[str] = set()
    for node in sg.nodes():
        stages.add(node.stage)
        if node.kind == "aggregate":
            bad.add(node.stage)
    changed = True
    while changed:
        changed = False
        for node in sg.nodes():
            if node.stage in bad:
                continue
            if any(i.node is not None and i.node[0] in bad for i in node.inputs):
                bad.add(node.stage)
                changed = True
    return stages - bad


def _max_resources(members: list[Node]) -> dict:
    out: dict[str, Any] = {}
    for n in members:
        for k, v in n.job_resources().items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[k] = max(out.get(k, v), v)
            else:
                out.setdefault(k, v)
    return out


def node_record(node: Node) -> dict:
    """What the job runtime needs to run one node (JSON, stored in the node database)."""
    return {
        "stage": node.stage,
        "hash": node.hash,
        "kind": node.kind,
        "func": node.func,
        "params": node.params_key,
        "params_name": node.params_name,
        "records": node.records,
        "inputs": [vars(i) for i in node.inputs],
        "outputs": node.outputs,
        "marker": node.marker,
        "force": node.force,
    }


def template_text(name: str) -> str:
    """A template from the wheel (``cfcompile.templates``) or, in a source checkout, templates/."""
    try:
        return ilr.files("cfcompile.templates").joinpath(name).read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(here, "templates", name)) as f:
            return f.read()


def render_snakefile(rules: list[dict], manifest_path: str, experiment: str, workdir: str) -> str:
    import jinja2

    from cfcompile import __version__

    text = template_text("Snakefile.j2")
    env = jinja2.Environment(
        autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return env.from_string(text).render(
        rules=rules,
        manifest_lit=lit(manifest_path),
        experiment_lit=json.dumps(experiment)[1:-1].replace("\n", " "),
        version=__version__,
        results_log_lit=lit(brace(os.path.join(workdir, "logs", "results.log"))),
        results_shell_lit=lit(
            brace(f"{shlex.quote(sys.executable)} -m cfcompile.results {shlex.quote(workdir)}")
            + " > {log:q} 2>&1"
        ),
    )


def _invalidate_markers(sg: StageGraph, workdir: str, groups: dict[str, list[Node]]) -> None:
    """A batch with a node to run (missing output, overwrite, ...) must run again: drop its marker.

    Snakemake only sees the markers of batched nodes, so this is where a deleted cache file
    becomes visible to it. The batch job then runs only the members that need it.
    """
    from cfcompile.plan import RUN, plan

    plans = plan(sg)
    for name, members in groups.items():
        if any(plans[n.id].status == RUN for n in members):
            try:
                os.remove(marker_path(workdir, name))
            except FileNotFoundError:
                pass


def check_paths(sg: StageGraph, workdir: str) -> None:
    """Snakemake finds wildcards even inside ``{{...}}``: a brace in a path cannot be emitted."""
    from cfcompile.results import results_dir

    for path in (workdir, results_dir(sg.info), *(t for n in sg.nodes() for t in n.targets())):
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
            raise CfcompileError(
                f"path {path!r} contains a control character (newline, tab, ...): it would break "
                "out of a line of the Snakefile or an sbatch script; rename it"
            )
        if "{" in path or "}" in path:
            raise CfcompileError(
                f"path {path!r} contains '{{' or '}}', which Snakemake reads as a wildcard even "
                "when escaped; choose a cache path, prefix, output name or workflow directory "
                "without braces"
            )


def resolve_batch(batch: int | str, records: int) -> int:
    """``auto``: about four batch jobs per local core, enough to balance uneven batches."""
    if batch != "auto":
        return int(batch)
    per_job = -(-records // (4 * (os.cpu_count() or 1)))
    return max(1, per_job)


def write_workflow(sg: StageGraph, workdir: str, batch: int | str = 0) -> str:
    """Write every file of the workflow into ``workdir``; returns the Snakefile text."""
    batch = resolve_batch(batch, len(sg.params))
    check_paths(sg, workdir)
    os.makedirs(workdir, exist_ok=True)
    groups = batches(sg, batch)
    rules, inputs, jobs, targets = plan_rules(sg, workdir, groups)
    nodes = sg.nodes()
    if groups:
        _invalidate_markers(sg, workdir, groups)
    from cfcompile.results import results_dir

    results = os.path.join(results_dir(sg.info), f"{sg.info['experiment']}.jsonl")
    manifest = {"targets": targets, "inputs": inputs, "results": results}
    manifest_path = os.path.join(workdir, MANIFEST)
    write_atomic(manifest_path, json.dumps(manifest, separators=(",", ":")).encode())

    force_dir = os.path.join(workdir, "force")
    forced = [n for n in nodes if n.force]
    if forced:
        os.makedirs(force_dir, exist_ok=True)
        for n in forced:  # a fresh mtime makes Snakemake rerun the node and its dependents
            with open(os.path.join(force_dir, f"{n.stage}_{n.hash}"), "w") as out:
                out.write("overwrite requested\n")

    with replacing(os.path.join(workdir, NODES_DB)) as tmp:
        _write_nodes_db(tmp, nodes, sg.params, jobs)

    info = dict(sg.info)
    info["stages"] = {name: spec.import_path for name, spec in sg.specs.items()}
    write_atomic(os.path.join(workdir, WORKFLOW), json.dumps(info, indent=2, default=str).encode())
    text = render_snakefile(rules, manifest_path, info.get("experiment", "?"), workdir)
    write_atomic(os.path.join(workdir, SNAKEFILE), text.encode())
    return text


def _write_nodes_db(path: str, nodes: list[Node], params: dict, jobs: dict) -> None:
    if os.path.exists(path):
        os.remove(path)
    con = sqlite3.connect(path)
    # no journal: the file is built aside and renamed into place whole
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    with con:
        con.execute(
            "CREATE TABLE nodes (stage TEXT, hash TEXT, data TEXT, PRIMARY KEY (stage, hash))"
        )
        con.execute("CREATE TABLE params (key TEXT PRIMARY KEY, name TEXT, blob BLOB)")
        con.execute("CREATE TABLE jobs (name TEXT PRIMARY KEY, members TEXT)")
        con.executemany(
            "INSERT INTO nodes VALUES (?, ?, ?)",
            ((n.stage, n.hash, json.dumps(node_record(n))) for n in nodes),
        )
        con.executemany(
            "INSERT INTO params VALUES (?, ?, ?)",
            ((k, p.name, pickle.dumps(p, protocol=4)) for k, p in params.items()),
        )
        con.executemany(
            "INSERT INTO jobs VALUES (?, ?)",
            ((name, json.dumps(members)) for name, members in jobs.items()),
        )
    con.close()
