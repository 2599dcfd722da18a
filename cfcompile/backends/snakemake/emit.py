"""Write a compiled workflow: Snakefile, manifest, node database and workflow settings.

The Snakefile is a security boundary. Nothing a user controls (parameter names and values,
paths, prefixes) is ever spliced into it as code: hashes are hex, stage names are Python
identifiers, and every other string goes in as a Python literal (``repr``) with Snakemake's
``{}`` formatting escaped, and, inside shell commands, shell-quoted first.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

from cfcompile import templates
from cfcompile.compiler.graph import StageGraph
from cfcompile.compiler.plan import Status
from cfcompile.core.ir import Node, unit_resources, unit_retries, unit_threads
from cfcompile.core.resources import SCHEDULER_RESOURCES, merge
from cfcompile.core.transaction import write_atomic
from cfcompile.core.workdir import (
    BEST,
    MANIFEST,
    RUN_LOCK,
    SNAKEFILE,
    done_path,
    failure_path,
    force_path,
    marker_path,
    node_log,
    printed_path,
    unit_log,
)
from cfcompile.errors import CfcompileError
from cfcompile.release import __version__
from cfcompile.runtime import job_client
from cfcompile.stages import StageKind
from cfcompile.values import is_number, printable


def brace(text: str) -> str:
    """Escape Snakemake's ``{...}`` formatting in a literal string."""
    return text.replace("{", "{{").replace("}", "}}")


def lit(text: str) -> str:
    return repr(str(text))


RETRY_DOUBLED = ("mem_mb", "runtime")
"""Asked for again times the attempt: a job retried (the slurm profile's ``retries: 1``) after
running out of time or memory gets twice as much, as Snakemake's own idiom has it."""


def _resource_literal(resources: dict) -> str:
    parts = []
    for key, value in resources.items():
        if key in RETRY_DOUBLED and is_number(value):
            parts.append(f"{key}=lambda wildcards, attempt: {value!r} * attempt")
        elif key in SCHEDULER_RESOURCES and is_number(value):
            parts.append(f"{key}={value!r}")
        elif isinstance(value, str) and key.isidentifier():
            parts.append(f"{key}={lit(value)}")
    return ", ".join(parts)


CLIENT = str(Path(job_client.__file__).resolve().parent.parent / "client.py")
"""``cfcompile/client.py``, the job command's stable path (a recompile after an upgrade must not
change every job's command: Snakemake would rerun them all)."""


def _job_command(python: str, workdir: str, args: str) -> str:
    """The thin client (``cfcompile/client.py`` runs ``runtime/job_client.py``): a warm worker
    runs the node, or the client becomes ``python -m cfcompile.job VERSION ARGS`` in process."""
    base = f"{shlex.quote(python)} -I -S {shlex.quote(CLIENT)} {shlex.quote(workdir)}"
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


def plan_rules(
    sg: StageGraph, workdir: str, groups: dict[str, list[Node]]
) -> tuple[list[dict], dict, list]:
    """One wildcard rule per stage (plus one for multi-node units); returns (rules, inputs per
    rule and wildcard, targets of ``all``).

    Snakemake tracks completion markers (``done/STAGE/HASH``, ``batches/N.done``), never the
    cache files: it deletes a job's outputs before it starts the job, and a failed rerun must
    leave the last good cache file in place. The compile step keeps the markers in line with
    the plan (``workdir.write_workflow_files``), which is where a deleted cache file becomes
    visible to Snakemake.
    """
    inputs = _Inputs(workdir, groups)
    rules: list[dict] = []
    rule_inputs: dict[str, dict[str, list[str]]] = {}
    if groups:
        rule_inputs[BATCH_RULE] = {
            name: sorted({p for n in members for p in inputs(n)})
            for name, members in groups.items()
        }
        rules.append(_unit_rule(workdir, groups))
    taken: set[str] = {"all", "cfcompile_results", BATCH_RULE}
    by_stage: dict[str, list[Node]] = {}
    for node in sg.nodes():
        if node.id not in inputs.owner:
            by_stage.setdefault(node.stage, []).append(node)
    for stage, members in by_stage.items():
        name = _rule_name(stage, taken)
        rule_inputs[name] = {n.hash: inputs(n) for n in members}
        rules.append(_stage_rule(workdir, name, stage, members))
    targets = [marker_path(workdir, name) for name in groups]
    targets += [done_path(workdir, n.id) for n in sg.nodes() if n.id not in inputs.owner]
    return rules, rule_inputs, targets


class _Inputs:
    """A node's input files as Snakemake sees them: the marker of each upstream node (or of its
    unit), the pickled values from run(), and a trigger file when overwrite is asked for; a
    producer in the same unit is no input at all (the unit runs both)."""

    def __init__(self, workdir: str, groups: dict[str, list[Node]]):
        self.workdir = workdir
        self.owner: dict[tuple[str, str], str] = {}
        for name, members in groups.items():
            for n in members:
                self.owner[n.id] = name

    def __call__(self, node: Node) -> list[str]:
        paths = []
        mine = self.owner.get(node.id)
        for i in node.inputs:
            if i.node is None:
                paths.append(i.path)
            elif i.node in self.owner:
                if self.owner[i.node] != mine:
                    paths.append(marker_path(self.workdir, self.owner[i.node]))
            else:
                paths.append(done_path(self.workdir, i.node))
        if node.force:
            paths.append(force_path(self.workdir, node.id))
        return sorted(set(paths))


def _unit_rule(workdir: str, groups: dict[str, list[Node]]) -> dict:
    every = [n for members in groups.values() for n in members]
    return dict(
        name=BATCH_RULE,
        stages=sorted({n.stage for n in every}),
        key_lit=lit(BATCH_RULE),
        outputs_lit=lit(_wildcard(marker_path(workdir, "{hash}"))),
        log_lit=lit(_wildcard(unit_log(workdir, "{hash}"))),
        threads=unit_threads(every),
        resources=_resource_literal(_largest_unit(groups)),
        retries=unit_retries(every),
        message_lit=lit(_label_field("")),
        shell_lit=lit(_job_command(sys.executable, workdir, "--batch {wildcards.hash}")),
    )


def _stage_rule(workdir: str, name: str, stage: str, nodes: list[Node]) -> dict:
    """One wildcard rule for every node of a stage: the hash is the wildcard."""
    return dict(
        name=name,
        stages=[stage],
        key_lit=lit(name),
        outputs_lit=lit(_wildcard(done_path(workdir, (stage, "{hash}")))),
        log_lit=lit(_wildcard(node_log(workdir, (stage, "{hash}")))),
        threads=unit_threads(nodes),
        resources=_resource_literal(_largest_unit({n.hash: [n] for n in nodes})),
        retries=unit_retries(nodes),
        message_lit=lit(_label_field(stage)),
        shell_lit=lit(
            _job_command(sys.executable, workdir, f"--stage {stage} --hash {{wildcards.hash}}")
        ),
    )


def _label_field(stage: str) -> str:
    """A rule's ``message:``: the job's label, looked up in the manifest while Snakemake formats
    the message (``_CfLabel.__format__`` in Snakefile.j2), so a parameter-set name is data and
    never Snakefile code. The format spec is ``STAGE HASH`` for a node, `` N`` for a unit; it
    ends with the wildcard (hex digits), never with the ``q``/``u`` Snakemake strips off it.
    """
    return "{_cf_label:" + stage + " {wildcards.hash}}"


MAX_NAMES = 3
"""Parameter-set names a unit's label shows before "...": one short line per job."""


def _printable(text: str, limit: int = 60) -> str:
    """A name as one terminal line: no control characters (escape sequences), not too long."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _join(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + ", ..." if len(items) > limit else shown


def unit_label(members: list[Node]) -> str:
    """``first, second [3 parameter sets: s0, s1, s2]``: what one multi-node job runs.

    One set reads like a node's label (``first, second [s0]``); more sets are counted and the
    first few named.
    """
    stages = list(dict.fromkeys(n.stage for n in members))
    names = list(dict.fromkeys(_printable(n.label) for n in members))
    who = names[0] if len(names) == 1 else f"{len(names)} parameter sets: {_join(names, MAX_NAMES)}"
    return f"{_join(stages, 4)} [{who}]"


def jobs_to_run(sg: StageGraph, units: dict[str, list[Node]], plans: dict | None) -> dict:
    """Jobs the run will start per progress key (a stage, or a unit's stages), from the plan:
    the progress line counts done out of these, not out of the jobs started so far."""
    if plans is None:
        return {}
    run = {nid for nid, p in plans.items() if p.status == Status.RUN}
    in_unit = {n.id for members in units.values() for n in members}
    out: dict[str, int] = {}
    for members in units.values():
        if any(n.id in run for n in members):
            key = unit_label(members).split(" [")[0]
            out[key] = out.get(key, 0) + 1
    for nid in run - in_unit:
        out[nid[0]] = out.get(nid[0], 0) + 1
    return out


def progress_data(sg: StageGraph, workdir: str, units: dict[str, list[Node]]) -> dict:
    """What the Snakefile's progress lines and failure summary read from the manifest.

    Labels are keyed by record hash (one entry per parameter set, not per node); a node's log
    follows ``workdir.log_path``: its unit's log when a unit runs its stage, else its own. The
    paths are templates with ``{stage}``/``{hash}``/``{unit}`` placeholders filled in by plain
    string replacement (``check_paths`` refuses braces in the workflow folder).
    """
    names: dict[str, str] = {}
    for node in sg.nodes():
        if node.params_name is not None or node.hash not in names:
            names[node.hash] = _printable(node.label)
    unit_of = {n.hash: name for name, members in units.items() for n in members}
    return {
        "names": names,
        "unit_labels": {name: unit_label(members) for name, members in units.items()},
        "unit_of": unit_of,
        "unit_stages": sorted({n.stage for members in units.values() for n in members}),
        "node_log": node_log(workdir, ("{stage}", "{hash}")),
        "unit_log": unit_log(workdir, "{unit}"),
        "failures": os.path.dirname(failure_path(workdir, ("stage", "hash"))),
        "experiment": sg.info.experiment,
        "workdir": workdir,
        "project_root": sg.info.project_root,
        "status_command": sg.info.command("--status"),
        "best_command": sg.info.command("--results", "--best"),
        "best": os.path.join(workdir, BEST),
        "printed": os.path.dirname(os.path.dirname(printed_path(workdir, ("stage", "hash")))),
        "aggregates": sorted({n.stage for n in sg.nodes() if n.kind == StageKind.AGGREGATE}),
        "results_argv": [sys.executable, "-I", "-S", CLIENT, workdir, "--results"],
    }


def _wildcard(path: str) -> str:
    """A path holding the literal ``{hash}`` placeholder, escaped for Snakemake but for it."""
    return brace(path).replace("{{hash}}", "{hash}")


def _largest_unit(units: dict[str, list[Node]]) -> dict:
    """One rule serves many jobs: it asks for what its largest job needs (the unit rule per job,
    the maximum over jobs)."""
    return merge((unit_resources(members) for members in units.values()), in_sequence=False)


def render_snakefile(
    rules: list[dict], manifest_path: str, experiment: str, workdir: str, version: str
) -> str:
    import jinja2

    text = templates.text("Snakefile.j2")
    env = jinja2.Environment(
        autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return env.from_string(text).render(
        rules=rules,
        manifest_lit=lit(manifest_path),
        experiment_lit=json.dumps(experiment)[1:-1].replace("\n", " "),
        version=__version__,
        results_log_lit=lit(brace(os.path.join(workdir, "logs", "results.log"))),
        run_lock_lit=lit(os.path.join(workdir, RUN_LOCK)),
        version_lit=lit(version),
        results_shell_lit=lit(_job_command(sys.executable, workdir, "--results")),
    )


_UNSAFE = re.compile(r"[\x00-\x1f\x7f{}]")


def check_paths(sg: StageGraph, workdir: str) -> None:
    """Snakemake finds wildcards even inside ``{{...}}``: a brace in a path cannot be emitted."""
    paths = (workdir, sg.info.results_dir, *(t for n in sg.nodes() for t in n.targets()))
    for path in (p for p in paths if _UNSAFE.search(p)):
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


def write_snakefile(
    sg: StageGraph,
    workdir: str,
    version: str,
    units: dict[str, list[Node]],
    plans: dict | None = None,
) -> str:
    """Write the Snakefile and its manifest into the version folder; returns the Snakefile.

    The node store and workflow.json are the shared workdir files (``driver.pipeline.prepare``);
    this writes only what Snakemake reads. ``WORKDIR/Snakefile`` is a copy for people who
    run ``snakemake -s`` on it.
    """
    check_paths(sg, workdir)
    rules, inputs, targets = plan_rules(sg, workdir, units)
    manifest = {"targets": targets, "inputs": inputs, "results": sg.info.results_path()}
    manifest["rules"] = {r["name"]: r["stages"] for r in rules}  # per-stage site settings
    manifest.update(progress_data(sg, workdir, units))
    manifest["to_run"] = jobs_to_run(sg, units, plans)
    manifest_path = os.path.join(version, MANIFEST)
    write_atomic(manifest_path, json.dumps(manifest, separators=(",", ":")).encode())
    text = render_snakefile(rules, manifest_path, sg.info.experiment, workdir, version)
    write_atomic(os.path.join(version, SNAKEFILE), text.encode())
    write_atomic(os.path.join(workdir, SNAKEFILE), text.encode())
    return text
