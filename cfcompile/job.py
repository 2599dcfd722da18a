"""The job runtime: ``python -m cfcompile.job WORKDIR --stage S --hash H`` (or ``--batch NAME``).

One node = load its parameter set, load its inputs through the producing stages' cachers, call
the undecorated stage function, publish its outputs atomically. This runs once per Snakemake or
Slurm job, so it imports only the standard library, cfcompile's runtime modules and the
researcher's code: never snakemake, networkx or jinja2 (tests/test_job.py checks).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import pickle
import socket
import sqlite3
import sys
import time
from typing import Any

from cfcompile.errors import CfcompileError, RecompileError
from cfcompile.publish import write_atomic

log = logging.getLogger("cfcompile.job")

EXIT_FAILED = 1
EXIT_RECOMPILE = 3


def file_digests(paths: list[str]) -> dict[str, str | None]:
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                out[path] = hashlib.md5(f.read()).hexdigest()
        except OSError:
            out[path] = None
    return out


def marker_path(workdir: str, batch: str) -> str:
    """Completion marker of a batch job (``batch_N`` or ``N``): what Snakemake tracks."""
    return os.path.join(workdir, "batches", f"{batch.removeprefix('batch_')}.done")


def import_object(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class Job:
    """Everything shared by the nodes one process runs (one node, or a batch)."""

    def __init__(self, workdir: str):
        self.workdir = os.path.abspath(workdir)
        with open(os.path.join(self.workdir, "workflow.json")) as f:
            self.info = json.load(f)
        self.db = sqlite3.connect(
            f"file:{os.path.join(self.workdir, 'nodes.sqlite')}?mode=ro", uri=True
        )
        root = self.info["project_root"]
        if root not in sys.path:
            sys.path.insert(0, root)
        from cfcompile import compat

        compat.install()
        from cfcompile.record import ArtifactManager

        run_info = dict(self.info.get("run_info", {}))
        run_info.update(
            hostname=socket.gethostname(),
            pid=os.getpid(),
            slurm_job_id=os.environ.get("SLURM_JOB_ID"),
            slurm_array_task_id=os.environ.get("SLURM_ARRAY_TASK_ID"),
        )
        self.manager = ArtifactManager(
            experiment_name=self.info["experiment"],
            cache_path=self.info["cache_path"],
            prefix=self.info.get("prefix"),
            run_info=run_info,
        )
        self._params: dict[str | None, Any] = {}
        self._fresh: dict[str, Any] | None = None
        self._changed = file_digests(list(self.info["digests"])) != self.info["digests"]

    # -- parameters ------------------------------------------------------------------------
    def params(self, key: str | None) -> Any:
        if key is None:
            return None
        if key not in self._params:
            row = self.db.execute("SELECT name, blob FROM params WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise RecompileError(
                    f"parameter set with hash {key} is not in this workflow: recompile"
                )
            params = pickle.loads(row[1])
            if self._changed:
                self._check_fresh(row[0], key)
            self._params[key] = params
        return self._params[key]

    def _check_fresh(self, name: str, key: str) -> None:
        """The parameter files changed since compile: does this set still hash the same?"""
        if self._fresh is None:
            from cfcompile.hashing import params_hash

            self._fresh = {}
            for module_name in self.info["param_modules"]:
                for p in importlib.import_module(module_name).get_params():
                    self._fresh.setdefault(p.name, params_hash(p))
        now = self._fresh.get(name)
        if now != key:
            cmd = self.info.get("run_info", {}).get("cli", "cfcompile ...")
            state = "is gone" if now is None else f"now hashes to {now}"
            raise RecompileError(
                f"parameter set '{name}' was compiled with hash {key} but {state}: the "
                f"experiment or its parameters changed since compile; recompile ({cmd})"
            )

    def node(self, stage: str, h: str) -> dict:
        row = self.db.execute(
            "SELECT data FROM nodes WHERE stage = ? AND hash = ?", (stage, h)
        ).fetchone()
        if row is None:
            raise RecompileError(f"no node {stage}/{h} in this workflow: recompile")
        return json.loads(row[0])

    def members(self, name: str) -> list[tuple[str, str]]:
        row = self.db.execute("SELECT members FROM jobs WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise RecompileError(f"no job '{name}' in this workflow: recompile")
        return [tuple(m) for m in json.loads(row[0])]

    # -- running -----------------------------------------------------------------------------
    def run_batch(self, name: str) -> None:
        """Run a batch's members in order, skipping those already cached, then mark it done.

        A member runs when one of its outputs is missing, when it is forced (overwrite), or
        when a member it depends on ran in this job; the rest is curifactory's cache rule.
        """
        ran: set[tuple[str, str]] = set()
        start = time.time()
        for stage, h in self.members(name):
            data = self.node(stage, h)
            upstream = {tuple(i["node"]) for i in data["inputs"] if i.get("node")}
            targets = [o["path"] for o in data["outputs"]] or [data["marker"]]
            if data["force"] or upstream & ran or not all(os.path.exists(t) for t in targets):
                self.run_node(data)
                ran.add((stage, h))
        marker = marker_path(self.workdir, name)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        done = {"batch": name, "ran": sorted(ran), "start": start, "end": time.time()}
        write_atomic(marker, json.dumps(done))

    def spec(self, stage: str) -> Any:
        return import_object(self.info["stages"][stage]).spec

    def load_input(self, inp: dict, record: Any) -> Any:
        if inp["kind"] == "source":
            with open(inp["path"], "rb") as f:
                return pickle.load(f)
        from cfcompile.caching import Lazy

        producer = self.spec(inp["node"][0])
        cacher = producer.output_cacher(record, producer.output_names.index(inp["output"]))
        cacher.fixed_path = inp["path"]
        if inp.get("lazy_resolve") is False:
            lazy = Lazy(inp["output"], resolve=False)
            lazy.cacher = cacher
            return lazy
        return cacher.load()

    def run_node(self, data: dict) -> None:
        from cfcompile.eager import save_outputs
        from cfcompile.record import Record

        spec = self.spec(data["stage"])
        manager = self.manager
        record = Record(manager, self.params(data["params"]), hide=True)
        records = None
        if spec.is_aggregate:
            records = [Record(manager, self.params(k), hide=True) for k in data["records"]]
            record.input_records = records
            record.set_aggregate(records)
        if record.get_hash() != data["hash"]:
            raise RecompileError(
                f"stage '{spec.name}' record hash is now {record.get_hash()} but was compiled as "
                f"{data['hash']}: recompile"
            )
        manager.current_stage_name = spec.name
        record.stages.append(spec.name)
        inputs: dict[str, Any] = {n: {} for n in spec.inputs} if spec.is_aggregate else {}
        positional: dict[int, Any] = {}
        for inp in data["inputs"]:
            owner = records[inp["record"]] if inp.get("record") is not None else record
            value = self.load_input(inp, owner)
            if inp.get("positional") is not None:
                positional[inp["positional"]] = value
            elif inp.get("record") is not None:
                inputs.setdefault(inp["name"], {})[owner] = value
            else:
                inputs[inp["name"]] = value
        args = tuple(positional[i] for i in sorted(positional))
        label = data["params_name"] or "aggregate"
        log.info("stage %s [%s] hash %s: running", spec.name, label, data["hash"])
        from cfcompile.limits import clear_failure, record_failure, timed_call

        start = time.time()
        try:
            result, timing = timed_call(
                spec.timeout,
                lambda: spec.invoke(record, records, args, inputs),
                f"stage '{spec.name}' ({label})",
            )
        except BaseException as exc:
            record_failure(self.workdir, spec.name, data["hash"], exc, start)
            raise
        values = spec.split_outputs(result, data["params_name"])
        cachers = spec.output_cachers(record)
        for cacher, out in zip(cachers, data["outputs"], strict=True):
            cacher.fixed_path = out["path"]
        save_outputs(spec, record, cachers, values, timing)
        if data["marker"]:
            done = {"stage": spec.name, "hash": data["hash"], "timing": timing}
            write_atomic(data["marker"], json.dumps(done))
        clear_failure(self.workdir, spec.name, data["hash"])
        log.info("stage %s [%s]: done in %.3f s", spec.name, label, timing["seconds"])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cfcompile.job")
    parser.add_argument("workdir")
    parser.add_argument("--stage")
    parser.add_argument("--hash")
    parser.add_argument("--batch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        job = Job(args.workdir)
        if args.batch:
            job.run_batch(args.batch)
        else:
            job.run_node(job.node(args.stage, args.hash))
    except RecompileError as exc:
        print(f"cfcompile job: recompile needed: {exc}", file=sys.stderr)
        return EXIT_RECOMPILE
    except CfcompileError as exc:
        print(f"cfcompile job: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run_task(workdir: str, node_ids: list[list[str]]) -> int:
    """Run several nodes in order in this process: one array task of ``--submit``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    job = Job(workdir)
    for stage, h in node_ids:
        data = job.node(stage, h)
        retries = job.spec(stage).retries
        for attempt in range(retries + 1):  # Snakemake retries its rules itself; arrays do not
            try:
                job.run_node(data)
                break
            except Exception:
                if attempt == retries:
                    raise
                log.warning("stage %s [%s]: attempt %d failed, retrying", stage, h, attempt + 1)
    return len(node_ids)
