"""Run a generated project through cfcompile's routes and reuse modes; compare with a fresh
``--eager --no-reuse`` copy.

Each (route, mode) gets its own copy of the project and goes through the project's sequence
of commands (step 0: a plain run; later steps: edits to helper constants, stage bodies and
added sets, then a plain run or ``--names ... --overwrite``). The reference copy goes through
the same sequence with ``--eager --no-reuse``. After every step, every cache output
(``data/cache/*_metadata.json`` and its ``.json``/``.pkl``) is read into
{(stage, artifact, set name, hash): value} and compared with the reference's at that step.

Differences:

- ``diff``: both have the node, with different values (pickles compared by a canonical form,
  ``fzlib.canon`` run in a subprocess inside the copy, so the project's classes import);
- ``missing``: the reference has it, the route does not, and the route's output and logs name
  no allowed refusal (``UndeclaredParameterError``, ``ParameterWriteError``) with the node's
  stage or a stage upstream of it in its chain;
- ``extra``: the route has a node the reference does not (``refused`` in the detail when the
  reference refused it);
- a command that hangs is killed at ``CFCOMPILE_FUZZ_TIMEOUT`` seconds (whole process group);
  the nodes it leaves missing are findings whose reason says so.

A compiled route runs short chains of several sets as one job (``--batch auto``): a node that
refuses fails its job, and Snakemake (``-k``) then skips the jobs downstream of it, aggregates
of other sub-experiments included. A missing aggregate in a compiled command that refused
something is therefore counted as ``blocked``, not a finding (the next run computes it).

A node missing because of an allowed refusal is counted (``refused``) and not a finding; an
aggregate whose inputs were partly refused may differ (an eager run aggregates what it has).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fuzz import generate as G

ROUTES = ("pipe", "worker0", "batch1", "eager")
COMPILED_ROUTES = ("pipe", "worker0", "batch1")
MODES = ("default", "reuse", "no-reuse")
MODE_FLAGS = {"default": [], "reuse": ["--reuse"], "no-reuse": ["--no-reuse"]}
REFERENCE = ("reference", "eager --no-reuse")
EXPERIMENT = "fz"
TIMEOUT = 300
STAGE_RE = re.compile(r"\bfz\d+_(?:st\d+|inner|agg)\b")
ERROR_RE = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Exit|Timeout))\b")


@dataclass
class Finding:
    sub: str
    stage: str
    artifact: str
    set: str | None
    hash: str
    route: str
    mode: str
    step: int
    args: list[str]
    kind: str  # diff | missing | extra
    expected: str | None
    got: str | None
    reused_from: str | None = None
    reason: str = ""
    tags: list[str] = field(default_factory=list)

    def line(self) -> str:
        who = self.set or "aggregate"
        where = f"{self.stage} [{who}] {self.route}/{self.mode} step {self.step}"
        args = f" ({' '.join(self.args)})" if self.args else ""
        copy = f" copied from {self.reused_from}" if self.reused_from else ""
        text = f"{self.kind}: {where}{args}{copy}: expected {_short(self.expected)}"
        text += f", got {_short(self.got)}"
        return text + (f" [{self.reason}]" if self.reason else "")


def _short(text: str | None, n: int = 160) -> str:
    if text is None:
        return "nothing"
    return text if len(text) <= n else text[: n - 3] + "..."


@dataclass
class ComboResult:
    route: str
    mode: str
    seconds: float = 0.0
    commands: int = 0
    refused: int = 0  # nodes the reference has and the route refused (an allowed refusal)
    refused_stages: int = 0  # stages the route refused (UndeclaredParameterError, ...)
    blocked: int = 0  # aggregates not run: a neighbour's refusal failed their inputs' job unit
    copies: int = 0  # outputs that say they are a copy (reused_from), at the last step
    findings: list[Finding] = field(default_factory=list)
    rcs: list[int] = field(default_factory=list)


@dataclass
class ProjectResult:
    project: dict
    combos: list[ComboResult]
    reference_refused: int = 0
    reference_seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.combos for f in c.findings]

    def summary(self) -> str:
        lines = []
        for f in self.findings[:40]:
            lines.append(f.line())
        if len(self.findings) > 40:
            lines.append(f"... and {len(self.findings) - 40} more")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "project": self.project,
            "reference_refused": self.reference_refused,
            "combos": [
                {**{k: v for k, v in asdict(c).items() if k != "findings"},
                 "findings": [asdict(f) for f in c.findings]}
                for c in self.combos
            ],
        }  # fmt: skip


# -- files and commands ---------------------------------------------------------------------
def write_files(root: Path, files: dict[str, str], before: dict[str, str] | None = None) -> None:
    """Write the files that differ from ``before``; drop bytecode caches (an edit within one
    second and of the same size would otherwise run the old .pyc)."""
    (root / "experiments").mkdir(parents=True, exist_ok=True)
    (root / "params").mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        if before is not None and before.get(rel) == text:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


SRC_VAR = "CFCOMPILE_FUZZ_SRC"
"""A folder holding a ``cfcompile`` package to test instead of the installed one (a snapshot of
a commit, ``git archive HEAD cfcompile | tar -x -C DIR``, while the checkout is being edited)."""


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    env.pop("CFCOMPILE_WORKER", None)
    src = os.environ.get(SRC_VAR)
    if src:
        env["PYTHONPATH"] = os.path.abspath(src)
    if not os.environ.get("CFCOMPILE_FUZZ_REAL_SCONTROL"):
        env["PATH"] = _stub_dir() + os.pathsep + env.get("PATH", "")
    return env


_STUB: list[str] = []


def _stub_dir() -> str:
    """A folder with an ``scontrol`` that fails at once: Snakemake's Slurm executor plugin
    runs ``scontrol show config`` when it is imported, which waits ~9 s whenever Slurm is
    installed and its controller is down (another session's test cluster comes and goes)."""
    if not _STUB:
        import tempfile

        folder = tempfile.mkdtemp(prefix="cfcompile-fuzz-bin-")
        path = os.path.join(folder, "scontrol")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(path, 0o755)
        _STUB.append(folder)
    return _STUB[0]


def command(route: str, mode: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The argv (through bash for the pipes) and environment of one route's command."""
    env = base_env()
    cli = [sys.executable, "-m", "cfcompile.cli", EXPERIMENT, "-p", EXPERIMENT]
    flags = [*MODE_FLAGS[mode], *args]
    if route in ("eager", "reference"):
        return [*cli, "--eager", *flags], env
    if route == "batch1":
        flags = ["--batch", "1", *flags]
    if route == "worker0":
        env["CFCOMPILE_WORKER"] = "0"
    left = " ".join(map(_quote, [*cli, *flags]))
    right = f"{_quote(sys.executable)} -m snakemake -s /dev/stdin --cores 2 -k"
    return ["bash", "-c", f"set -o pipefail; {left} | {right}"], env


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


class LogTail:
    """New text in the workflow's logs since the last call (job logs, worker log)."""

    def __init__(self, root: Path) -> None:
        self.folder = root / ".cfcompile" / EXPERIMENT / "logs"
        self.sizes: dict[Path, int] = {}

    def read(self) -> str:
        if not self.folder.is_dir():
            return ""
        chunks = []
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file():
                continue
            try:
                size = path.stat().st_size
                start = self.sizes.get(path, 0)
                if size < start:
                    start = 0
                if size > start:
                    with open(path, "rb") as f:
                        f.seek(start)
                        chunks.append(f.read().decode(errors="replace"))
                self.sizes[path] = size
            except OSError:
                continue
        return "\n".join(chunks)


@dataclass
class StepRun:
    rc: int
    seconds: float
    text: str
    values: dict  # key -> {"kind", "data", "reused_from"}


def run_command(root: Path, route: str, mode: str, args: list[str], logs: LogTail) -> StepRun:
    """Run one command in its own session; past ``TIMEOUT`` the whole group is killed (bash,
    cfcompile, Snakemake, the jobs) and the run counts as hung. A warm worker lives in its own
    session on purpose and leaves by itself once idle."""
    argv, env = command(route, mode, args)
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout())
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        rc = -9
        err += f"\nFUZZ-TIMEOUT: the command ran past {timeout()}s and was killed"
    seconds = time.monotonic() - start
    text = out + "\n" + err + "\n" + logs.read()
    return StepRun(rc, seconds, text, collect(root))


def timeout() -> float:
    return float(os.environ.get("CFCOMPILE_FUZZ_TIMEOUT", TIMEOUT))


def _kill_group(pgid: int) -> None:
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except OSError:
            return
        time.sleep(1)


# -- reading outputs ------------------------------------------------------------------------
def collect(root: Path) -> dict[tuple, dict]:
    """Every output of the cache folder: {(stage, artifact, set name, hash): value}."""
    out = {}
    cache = root / "data" / "cache"
    if not cache.is_dir():
        return out
    for meta_path in cache.glob("*_metadata.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        base = str(meta_path)[: -len("_metadata.json")]
        key = (meta.get("stage"), meta.get("artifact_name"), meta.get("params_name"),
               meta.get("params_hash"))  # fmt: skip
        reused = (meta.get("reused_from") or {}).get("params_name")
        if os.path.isfile(base + ".json"):
            try:
                value = json.dumps(json.loads(Path(base + ".json").read_text()), sort_keys=True)
            except ValueError as exc:
                value = f"<unreadable json: {exc}>"
            out[key] = {"kind": "json", "data": value, "reused_from": reused}
        elif os.path.isfile(base + ".pkl"):
            out[key] = {"kind": "pkl", "data": Path(base + ".pkl").read_bytes(),
                        "reused_from": reused}  # fmt: skip
        else:
            out[key] = {"kind": "none", "data": "<metadata without output>", "reused_from": reused}
    return out


CANON = r"""
import base64, json, pickle, sys
sys.path.insert(0, ".")
import fzlib
out = []
for item in json.load(sys.stdin):
    try:
        v = pickle.loads(base64.b64decode(item))
        out.append(json.dumps(fzlib.canon(v), sort_keys=True))
    except Exception as exc:
        out.append(f"<unloadable: {type(exc).__name__}: {exc}>")
print(json.dumps(out))
"""


def canonical_pickles(root: Path, blobs: list[bytes]) -> list[str]:
    """Unpickle inside the project copy (its classes import there) and canonicalise."""
    if not blobs:
        return []
    proc = subprocess.run(
        [sys.executable, "-c", CANON],
        cwd=root,
        env=base_env(),
        input=json.dumps([base64.b64encode(b).decode() for b in blobs]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        return [f"<canonicaliser failed: {proc.stderr[-300:]}>"] * len(blobs)
    return json.loads(proc.stdout)


# -- refusals -------------------------------------------------------------------------------
QUOTED_STAGE_RE = re.compile(r"stage '(fz\d+_(?:st\d+|inner|agg))'")


def refusals(text: str) -> dict[str, str]:
    """{stage: the line} for every line naming an allowed refusal and a generated stage on the
    same line (the stage the message quotes, ``stage 'fz3_st1'``, when it quotes one; lines
    around it are not read: a traceback's frames name other stages)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not any(name in line for name in G.ALLOWED_REFUSALS):
            continue
        stages = QUOTED_STAGE_RE.findall(line) or STAGE_RE.findall(line)
        for stage in stages:
            out.setdefault(stage, line.strip()[:300])
    return out


def errors(text: str) -> dict[str, str]:
    """{stage: a line naming an error and the stage}, for the reason of a missing node."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not ERROR_RE.search(line):
            continue
        for stage in STAGE_RE.findall(line):
            out.setdefault(stage, line.strip()[:300])
    return out


def first_error(text: str) -> str:
    for line in text.splitlines():
        if ERROR_RE.search(line) or "FUZZ-TIMEOUT" in line or "error:" in line:
            return line.strip()[:300]
    return ""


# -- comparing ------------------------------------------------------------------------------
def subs_by_name(project: dict) -> dict[str, dict]:
    return {s["name"]: s for s in project["subs"]}


def compare_step(
    project: dict,
    step: int,
    ref: StepRun,
    got: StepRun,
    ref_refused: dict[str, str],
    got_refused: dict[str, str],
    got_errors: dict[str, str],
    route: str,
    mode: str,
    ref_root: Path,
    got_root: Path,
    blocked_before: set | None = None,
    ref_errors: dict[str, str] | None = None,
) -> tuple[list[Finding], int, int]:
    subs = subs_by_name(project)
    args = G.step_args(project, step)
    findings: list[Finding] = []
    refused = blocked = 0
    step_refused = bool(refusals(got.text))
    blocked_before = set() if blocked_before is None else blocked_before
    ref_errors = ref_errors or {}
    pending: list[tuple[tuple, dict, dict]] = []  # pickles that differ byte-wise

    def finding(key, kind, expected, got_value, reused, reason=""):
        stage, artifact, name, digest = key
        sub = subs.get(str(stage).split("_")[0])
        tags = G.features_of(sub, stage) if sub else []
        return Finding(
            sub=str(stage).split("_")[0], stage=stage, artifact=artifact, set=name,
            hash=digest, route=route, mode=mode, step=step, args=args, kind=kind,
            expected=expected, got=got_value, reused_from=reused, reason=reason, tags=tags,
        )  # fmt: skip

    def upstream(stage: str) -> list[str]:
        sub = subs.get(str(stage).split("_")[0])
        return G.upstream(sub, stage) if sub else [stage]

    def refused_by(table: dict[str, str], stage: str) -> str | None:
        for s in upstream(stage):
            if s in table:
                return table[s]
        return None

    present = {str(k[0]).split("_")[0] for k in got.values}
    for key in sorted(set(ref.values) | set(got.values), key=repr):
        stage = str(key[0])
        r, g = ref.values.get(key), got.values.get(key)
        if r is not None and g is not None:
            if r["kind"] == "pkl" and g["kind"] == "pkl" and r["data"] != g["data"]:
                pending.append((key, r, g))
                continue
            if _text(r) == _text(g):
                continue
            if stage.endswith("_agg") and refused_by(got_refused, stage):
                continue  # aggregates over what the route did not refuse
            why = refused_by(got_refused, stage)
            reason = f"the route refused this stage before: {why}" if why else ""
            why = refused_by(ref_refused, stage)
            reason = reason or (f"the reference refused this stage before: {why}" if why else "")
            findings.append(finding(key, "diff", _text(r), _text(g), g["reused_from"], reason))
        elif r is not None:
            why = refused_by(got_refused, stage)
            if why:
                refused += 1
                continue
            if (
                stage.endswith("_agg")
                and route in COMPILED_ROUTES
                and (step_refused or key in blocked_before)
            ):
                blocked += 1  # its inputs' job unit failed by a neighbour's refusal
                blocked_before.add(key)  # a later --names run does not run it either
                continue
            reason = next((got_errors[s] for s in upstream(stage) if s in got_errors), "")
            if got.rc == -9:
                reason = f"FUZZ-TIMEOUT (hung; killed after {timeout():.0f}s) {reason}".strip()
            if not reason and str(stage).split("_")[0] not in present:
                reason = first_error(got.text)  # nothing of its sub-experiment: a global failure
            if not reason:  # no error names it: keep what the command said, to explain it later
                reason = f"rc {got.rc}; the route's output ends: {got.text[-1500:]}"
            findings.append(finding(key, "missing", _text(r), None, None, reason))
        else:
            why = refused_by(ref_refused, stage)
            reason = f"the reference refused: {why}" if why else ""
            if not reason:
                err = next((ref_errors[s] for s in upstream(stage) if s in ref_errors), "")
                reason = f"the reference failed: {err}" if err else ""
            findings.append(finding(key, "extra", None, _text(g), g["reused_from"], reason))
    if pending:
        want = canonical_pickles(ref_root, [r["data"] for _, r, _ in pending])
        have = canonical_pickles(got_root, [g["data"] for _, _, g in pending])
        for (key, _, g), w, h in zip(pending, want, have, strict=True):
            if w != h and not (str(key[0]).endswith("_agg") and refused_by(got_refused, key[0])):
                findings.append(finding(key, "diff", w, h, g["reused_from"]))
    return findings, refused, blocked


def _text(value: dict) -> str:
    data = value["data"]
    if isinstance(data, bytes):
        return f"<pickle {len(data)} bytes>"
    return data


# -- one project through every combination --------------------------------------------------
def run_sequence(project: dict, root: Path, route: str, mode: str):
    """Write the project at ``root`` and run its sequence, yielding (step, StepRun) after
    each command."""
    if root.exists():
        shutil.rmtree(root)
    before = None
    logs = LogTail(root)
    for step in range(len(project["steps"])):
        files = G.render(project, step)
        write_files(root, files, before)
        before = files
        yield step, run_command(root, route, mode, G.step_args(project, step), logs)


def check_project(
    project: dict,
    workdir: Path,
    combos: list[tuple[str, str]],
    keep: bool = False,
    log: Any = None,
) -> ProjectResult:
    """Run the reference and every (route, mode) of ``combos``; compare step by step."""
    workdir.mkdir(parents=True, exist_ok=True)
    ref_root = workdir / "reference"
    ref_steps: list[tuple[StepRun, dict[str, str]]] = []
    ref_refused: dict[str, str] = {}
    ref_errors: dict[str, str] = {}
    result = ProjectResult(project, [])
    for _, run in run_sequence(project, ref_root, "reference", "no-reuse"):
        ref_refused.update(refusals(run.text))
        for stage, line in errors(run.text).items():
            ref_errors.setdefault(stage, line)
        ref_steps.append((run, dict(ref_refused)))
        result.reference_seconds += run.seconds
    result.reference_refused = sum(
        1 for sub in project["subs"] for stage in G.stage_names(sub) if stage in ref_refused
    )
    last = len(project["steps"]) - 1
    for route, mode in combos:
        root = workdir / f"{route}-{mode}"
        combo = ComboResult(route, mode)
        got_refused: dict[str, str] = {}
        got_errors: dict[str, str] = {}
        blocked_keys: set = set()
        for step, run in run_sequence(project, root, route, mode):
            combo.seconds += run.seconds
            combo.commands += 1
            got_refused.update(refusals(run.text))
            for stage, line in errors(run.text).items():
                got_errors.setdefault(stage, line)
            ref_run, ref_ref = ref_steps[step]
            found, refused, blocked = compare_step(
                project, step, ref_run, run, ref_ref, got_refused, got_errors, route, mode,
                ref_root, root, blocked_keys, ref_errors,
            )  # fmt: skip
            combo.findings += found
            combo.rcs.append(run.rc)
            if step == last:
                combo.refused, combo.blocked = refused, blocked
                combo.refused_stages = len(got_refused)
                combo.copies = sum(1 for v in run.values.values() if v["reused_from"])
        result.combos.append(combo)
        if log:
            log(
                f"  {route:8} {mode:9} {combo.seconds:6.1f}s findings {len(combo.findings):3} "
                f"refused {combo.refused_stages:3} stages ({combo.refused:3} nodes the "
                f"reference has) copies {combo.copies:3}"
            )
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    if not keep:
        shutil.rmtree(ref_root, ignore_errors=True)
    return result


def all_combos(routes=ROUTES, modes=MODES) -> list[tuple[str, str]]:
    return [(r, m) for r in routes for m in modes]


# -- grouping findings ----------------------------------------------------------------------
def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per (sub, stage, set, kind, route, mode): later steps repeat earlier ones."""
    seen, out = set(), []
    for f in findings:
        key = (f.sub, f.stage, f.set, f.kind, f.route, f.mode)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def roots(project: dict, findings: list[Finding]) -> list[Finding]:
    """The findings no finding upstream of them explains (in the same set's chain, or any set
    for an aggregate, with the same route and mode, at the same or an earlier step), one per
    node across steps."""
    subs = subs_by_name(project)
    first: dict[tuple, int] = {}
    first_stage: dict[tuple, int] = {}
    for f in findings:
        key = (f.route, f.mode, f.set, f.stage)
        first[key] = min(first.get(key, f.step), f.step)
        skey = (f.route, f.mode, f.stage)
        first_stage[skey] = min(first_stage.get(skey, f.step), f.step)
    out = []
    for f in dedupe(findings):
        sub = subs.get(f.sub)
        ups = [s for s in (G.upstream(sub, f.stage) if sub else []) if s != f.stage]
        if f.stage.endswith("_agg"):
            if any(first_stage.get((f.route, f.mode, u), 10**6) <= f.step for u in ups):
                continue
        elif any(first.get((f.route, f.mode, f.set, u), 10**6) <= f.step for u in ups):
            continue
        out.append(f)
    return out


# -- shrinking one finding ------------------------------------------------------------------
def _renumber_stages(sub: dict, keep: list[int]) -> dict:
    """``sub`` with only the stages ``keep`` (body constants and their edits follow)."""
    out = copy.deepcopy(sub)
    out["stages"] = [sub["stages"][j] for j in keep]
    rename = {f"body{j}": f"body{i}" for i, j in enumerate(keep)}
    out["consts"] = {
        rename.get(k, k): v
        for k, v in sub["consts"].items()
        if not k.startswith("body") or k in rename
    }
    out["edits"] = {}
    for t, edits in sub["edits"].items():
        kept = [[rename.get(k, k), v] for k, v in edits if not k.startswith("body") or k in rename]
        if kept:
            out["edits"][t] = kept
    for i, s in enumerate(out["stages"]):
        if i < 2:
            s["second_input"] = False
    if not any(s["nested_call"] for s in out["stages"]):
        out["inner"] = None
    return out


def _without_set(sub: dict, i: int, extra: bool) -> dict:
    out = copy.deepcopy(sub)
    if extra:
        del out["extra"][i]
        n = len(out["extra"])
        for edits in out["edits"].values():
            for e in edits:
                if e[0] == "extra":
                    e[1] = min(e[1], n)
        return out
    del out["sets"][i]
    ow = {}
    for t, j in sub["overwrite"].items():
        if j != i:
            ow[t] = j - (1 if j > i else 0)
    out["overwrite"] = ow
    return out


def shrink_candidates(project: dict):
    """Smaller variants of a one-sub-experiment project, roughly biggest cut first."""
    sub = project["subs"][0]

    def with_sub(new_sub, **changes):
        p = copy.deepcopy(project)
        p["subs"] = [new_sub]
        p.update(changes)
        return p

    steps = project["steps"]
    for n in range(1, len(steps)):
        s2 = copy.deepcopy(sub)
        s2["edits"] = {t: e for t, e in sub["edits"].items() if int(t) < n}
        s2["overwrite"] = {t: e for t, e in sub["overwrite"].items() if int(t) < n}
        yield "fewer steps", with_sub(s2, steps=steps[:n])
    n = len(sub["stages"])
    for cut in range(1, n):
        yield "fewer stages", with_sub(_renumber_stages(sub, list(range(cut))))
    for j in range(n):
        if n > 1:
            rest = [i for i in range(n) if i != j]
            yield f"drop stage {j}", with_sub(_renumber_stages(sub, rest))
    if sub["aggregate"]:
        yield "no aggregate", with_sub({**copy.deepcopy(sub), "aggregate": False})
    for i in range(len(sub["extra"])):
        yield f"drop extra set {i}", with_sub(_without_set(sub, i, True))
    for i in range(len(sub["sets"])):
        if len(sub["sets"]) > 1:
            yield f"drop set {i}", with_sub(_without_set(sub, i, False))
    for t, edits in sub["edits"].items():
        for e in range(len(edits)):
            s2 = copy.deepcopy(sub)
            del s2["edits"][t][e]
            if not s2["edits"][t]:
                del s2["edits"][t]
            yield f"drop edit {t}.{e}", with_sub(s2)
    for t in sub["overwrite"]:
        s2 = copy.deepcopy(sub)
        del s2["overwrite"][t]
        yield f"drop overwrite {t}", with_sub(s2)
    for j, st in enumerate(sub["stages"]):
        for r in range(len(st["reads"])):
            s2 = copy.deepcopy(sub)
            del s2["stages"][j]["reads"][r]
            s2["stages"][j]["uses"] = G.declared(s2["stages"][j])
            yield f"drop read {j}.{r}", with_sub(s2)
        simpler = {
            "helper": None, "cacher": "json", "second_input": False, "writes": None,
            "nested_call": False,
        }  # fmt: skip
        for key, value in simpler.items():
            if st[key] != value:
                s2 = copy.deepcopy(sub)
                s2["stages"][j][key] = value
                if key == "cacher":
                    s2["stages"][j]["wrap"] = "list"
                if key == "nested_call" and not any(s["nested_call"] for s in s2["stages"]):
                    s2["inner"] = None
                yield f"stage {j} {key}={value}", with_sub(s2)
        if st["decl"] != "none":
            s2 = copy.deepcopy(sub)
            s2["stages"][j]["decl"] = "none"
            s2["stages"][j]["uses"] = None
            yield f"stage {j} undeclared", with_sub(s2)
    read = {r["path"].split(".")[0] for s in sub["stages"] for r in s["reads"]}
    if sub["method_field"]:
        read.add(sub["method_field"])
    if sub["inner"]:
        read.add(sub["inner"]["path"].split(".")[0])
    for f in sub["fields"]:
        if f["name"] not in read:
            s2 = copy.deepcopy(sub)
            s2["fields"] = [x for x in sub["fields"] if x["name"] != f["name"]]
            s2["hash_reps"].pop(f["name"], None)
            for s in [*s2["sets"], *s2["extra"]]:
                s["vals"].pop(f["name"], None)
            for st in s2["stages"]:
                if st["writes"] == f["name"]:
                    st["writes"] = None
            yield f"drop field {f['name']}", with_sub(s2)
    if sub["subclass"]:
        s2 = copy.deepcopy(sub)
        s2["subclass"] = False
        for s in [*s2["sets"], *s2["extra"]]:
            s["cls"] = "P"
        yield "no subclass", with_sub(s2)
    for name, how in sub["hash_reps"].items():
        if how == "obj":
            s2 = copy.deepcopy(sub)
            del s2["hash_reps"][name]
            yield f"no hash function for {name}", with_sub(s2)


def minimize(
    project: dict,
    sub_name: str,
    route: str,
    mode: str,
    kind: str,
    workdir: Path,
    budget: int = 40,
    log: Any = None,
    category: str | None = None,
) -> tuple[dict, list[Finding]]:
    """Shrink ``project`` to the one sub-experiment ``sub_name`` and then greedily while
    (route, mode) still shows a root finding of ``kind`` (and of ``category``, ``explain``'s,
    when given); returns the smallest project and its findings (the original single-sub
    findings if nothing smaller reproduces)."""
    keep = [s["k"] for s in project["subs"] if s["name"] == sub_name]
    current = G.only_subs(project, keep)
    tries = 0

    def still(p: dict) -> list[Finding] | None:
        nonlocal tries
        tries += 1
        res = check_project(p, workdir, [(route, mode)])
        hits = [
            f
            for f in roots(p, res.findings)
            if f.kind == kind and (category is None or explain(p, f)[0] == category)
        ]
        return hits or None

    found = still(current)
    if not found:
        return current, []
    progress = True
    while progress and tries < budget:
        progress = False
        for what, candidate in shrink_candidates(current):
            if tries >= budget:
                break
            hits = still(candidate)
            if hits:
                if log:
                    log(f"    shrink: {what}")
                current, found, progress = candidate, hits, True
                break
    return current, found


# -- what a difference is about -------------------------------------------------------------
def _vals(stage: dict, text: str | None) -> list | None:
    """The list a generated stage built (``vals``), from its output's canonical JSON."""
    if text is None:
        return None
    try:
        v = json.loads(text)
    except ValueError:
        return None
    wrap = stage["wrap"]
    try:
        if wrap == "list":
            return v
        if wrap == "dict":
            return [v["stage"], *v["vals"]]
        if wrap == "tuple":
            return v[1:]
        if wrap == "box":
            return v[1]
        return [*v[1][0], ["params", v[1][1]]]  # params: Box([vals, record.params])
    except (KeyError, IndexError, TypeError):
        return None


def parts_of(sub: dict, j: int) -> list[tuple[str, dict]]:
    """Labels of a stage's ``vals`` items, in order: (label, facts)."""
    s = sub["stages"][j]
    kinds = {f["name"]: f["kind"] for f in sub["fields"]}
    out = [("stage", {}), ("body constant", {"what": "body"})]
    for r in s["reads"]:
        top = r["path"].split(".")[0]
        out.append((f"read {r['path']} via {r['via']}", {"what": "read", **r,
                    "kind": kinds.get(top, top)}))  # fmt: skip
    if s["helper"]:
        out.append((f"helper constant ({s['helper']})", {"what": "helper", "style": s["helper"]}))
    k = sub["name"]
    inputs = [f"{k}_o{j - 1}"] if j >= 1 else []
    if s["second_input"]:
        inputs.append(f"{k}_o0")
    out += [(f"input {n}", {"what": "input"}) for n in inputs]
    if s["nested_call"]:
        out.append(("nested stage's output", {"what": "inner"}))
    if s["wrap"] == "params":
        out.append(("record.params in the output", {"what": "params"}))
    return out


def _holds_params_declared(sub: dict, stage: str) -> bool:
    """Whether ``stage`` or a chain stage before it declares ``uses=`` and returns an output
    holding ``record.params``: cfcompile refuses such a node (a whole use) only when the node
    could merge, so it computes under ``--no-reuse`` and behind an input cached by older code."""
    m = re.search(r"_st(\d+)$", stage)
    if not m:
        return False
    return any(
        s["wrap"] == "params" and s["uses"] is not None
        for s in sub["stages"][: int(m.group(1)) + 1]
    )


def explain(project: dict, f: Finding) -> tuple[str, str]:
    """(category, detail) of a finding: which part of the stage's value differs, and so
    which mechanism; a coarse guess from the stage's features when that cannot be read."""
    sub = subs_by_name(project).get(f.sub)
    if sub is None:
        return "other", ""
    if f.kind == "missing" and "FUZZ-TIMEOUT" in (f.reason or ""):
        return "command hung (killed at the timeout)", f.reason
    if any(s["writes"] for s in sub["stages"]):
        return "stage writes record.params", f.reason
    if f.kind == "missing" and f.stage.endswith("_inner") and "FUZZ-TIMEOUT" not in f.reason:
        return "nested stage's outputs missing (its caller was copied?)", f.reason
    if f.kind == "missing":
        name = ERROR_RE.search(f.reason or "")
        return f"missing output ({name.group(1) if name else 'no error named'})", f.reason
    if f.kind == "extra":
        if f.reason.startswith("the reference refused"):
            return "output where the reference refused", f.reason
        name = ERROR_RE.search(f.reason or "")
        if name:
            return f"output where the reference failed ({name.group(1)})", f.reason
        return "extra output", f.reason
    if (
        f.kind == "diff"
        and not f.reused_from
        and (_holds_params_declared(sub, f.stage) or "refused this stage before" in f.reason)
    ):
        # refused in one run (or mode) and computed in another, under edited code by then
        return "a refusal that depends on cache state or mode", f.reason
    if f.stage.endswith("_inner"):
        return "nested stage call (its reads count for the outer stage)", ""
    if f.stage.endswith("_agg"):
        return "aggregate differs", ""
    j = int(f.stage.rsplit("_st", 1)[1])
    stage = sub["stages"][j]
    want, have = _vals(stage, f.expected), _vals(stage, f.got)
    labels = parts_of(sub, j)
    if want is None or have is None or len(want) != len(have) or len(want) != len(labels):
        return "other (shape)", ""
    differ = [
        (label, facts)
        for (label, facts), a, b in zip(labels, want, have, strict=True)
        if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True)  # True != 1
    ]
    if not differ:
        return "other (no differing part)", ""
    label, facts = differ[0]
    detail = "; ".join(label for label, _ in differ)
    part = {label: (a, b) for (label, _), a, b in zip(labels, want, have, strict=True)}
    what = facts.get("what")
    if what == "read":
        via, kind, path = facts["via"], facts["kind"], facts["path"]
        if stage["decl"] == "lie" and path == stage["drop"]:
            return "undeclared read not refused", detail
        if via in ("pool", "poolwith"):
            return "read in a forked pool worker", detail
        if via == "method" and part[label][0][:1] != part[label][1][:1]:  # ["P", ...]/["P2", ...]
            return "params subclass overrides a method", detail
        if kind == "nested" and not path.endswith(".size"):
            return "nested name dropped (parent path)", detail
        if kind == "obj":
            return "repr that leaves the value out", detail
        if kind == "callobj":
            return "callable parameter keyed by its repr", detail
        if kind == "func":
            return "function-valued parameter", detail
        if via == "asdict":
            return "read through dataclasses.asdict", detail
        return f"read of a {kind} field via {via}", detail
    if what == "helper":
        return f"helper constant edit not seen ({facts['style']})", detail
    if what == "body":
        return "stage body edit not seen", detail
    if what == "params":
        return "output holds record.params", detail
    if what == "inner":
        return "nested stage call (its reads count for the outer stage)", detail
    if what == "input":  # the upstream node of this set was equal: a copy from another input
        return "copied although its input differs", detail
    return f"{label} differs", detail
