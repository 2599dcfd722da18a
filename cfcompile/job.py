"""The job runtime: ``python -m cfcompile.job VERSION --stage S --hash H`` (or ``--batch UNIT``).

VERSION is a compiled version folder (``WORKDIR/v/DIGEST``): the job reads the nodes and the
parameter sets it was compiled with, and writes markers, logs and failure records into the
shared WORKDIR.

One node = load its parameter set, load its inputs through the producing stages' cachers, call
the undecorated stage function, publish its outputs atomically. This runs once per Snakemake or
Slurm job, so it imports only the standard library, cfcompile's runtime modules and the
researcher's code: never snakemake, networkx or jinja2 (tests/test_job_runtime.py checks).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import socket
import sys
import time
from typing import Any

from cfcompile import compat
from cfcompile.caching import Lazy
from cfcompile.core.execute import StageTimeout, call_stage, save_outputs
from cfcompile.core.ir import InputRef, Node, NodeId
from cfcompile.core.transaction import Terminated, terminate_as_exception, write_atomic
from cfcompile.core.workdir import (
    NodeStore,
    WorkflowInfo,
    clear_failure,
    done_path,
    file_digests,
    marker_path,
    record_failure,
    resolve_version,
)
from cfcompile.errors import CfcompileError, RecompileError
from cfcompile.hashing import params_hash
from cfcompile.project import modules
from cfcompile.record import ArtifactManager, Record
from cfcompile.stages import StageSpec

log = logging.getLogger("cfcompile.job")

EXIT_FAILED = 1
EXIT_RECOMPILE = 3
EXIT_TERMINATED = 128 + signal.SIGTERM  # what a shell reports for a process SIGTERM ended


class Job:
    """Everything shared by the nodes one process runs (one node, or a unit of several)."""

    def __init__(self, version: str):
        self.version = resolve_version(version)
        self.info = WorkflowInfo.load(self.version)
        self.store = NodeStore(self.version)
        self.workdir = self.info.workdir
        if self.info.project_root not in sys.path:
            sys.path.insert(0, self.info.project_root)
        compat.install()
        run_info = dict(self.info.run_info)
        run_info.update(
            hostname=socket.gethostname(),
            pid=os.getpid(),
            slurm_job_id=os.environ.get("SLURM_JOB_ID"),
            slurm_array_task_id=os.environ.get("SLURM_ARRAY_TASK_ID"),
        )
        self.manager = ArtifactManager(
            experiment_name=self.info.experiment,
            cache_path=self.info.cache_path,
            prefix=self.info.prefix,
            run_info=run_info,
        )
        self._params: dict[str | None, Any] = {}
        self._fresh: dict[str, Any] | None = None
        self._changed = file_digests(list(self.info.digests)) != self.info.digests

    # -- parameters ------------------------------------------------------------------------
    def params(self, key: str | None) -> Any:
        if key is None:
            return None
        if key not in self._params:
            row = self.store.params(key)
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
            self._fresh = {}
            for module_name in self.info.param_modules:
                for p in modules.import_name(module_name).get_params():
                    self._fresh.setdefault(p.name, params_hash(p))
        now = self._fresh.get(name)
        if now != key:
            cmd = self.info.run_info.get("cli", "cfcompile ...")
            state = "is gone" if now is None else f"now hashes to {now}"
            raise RecompileError(
                f"parameter set '{name}' was compiled with hash {key} but {state}: the "
                f"experiment or its parameters changed since compile; recompile ({cmd})"
            )

    def node(self, node_id: NodeId) -> Node:
        node = self.store.node(node_id)
        if node is None:
            raise RecompileError(f"no node {node_id[0]}/{node_id[1]} in this workflow: recompile")
        return node

    def members(self, unit: str) -> list[NodeId]:
        members = self.store.members(unit)
        if members is None:
            raise RecompileError(f"no job unit '{unit}' in this workflow: recompile")
        return members

    @staticmethod
    def spec(node: Node) -> StageSpec:
        """The stage's declaration, found by the function's import path (never its bare name:
        two modules may define stages of the same name)."""
        return modules.resolve(node.func).spec

    # -- running -----------------------------------------------------------------------------
    def run_unit(self, unit: str) -> None:
        """Run a unit's members in order, skipping those already cached, then mark it done.

        A member runs when one of its outputs is missing, when it is forced (overwrite), or
        when a member it depends on ran in this job; the rest is curifactory's cache rule.
        """
        ran: set[NodeId] = set()
        start = time.time()
        for node_id in self.members(unit):
            node = self.node(node_id)
            missing = not all(os.path.exists(t) for t in node.targets())
            if node.force or node.upstream() & ran or missing:
                self.run_node(node)
                ran.add(node_id)
        marker = marker_path(self.workdir, unit)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        done = {"unit": unit, "ran": sorted(ran), "start": start, "end": time.time()}
        write_atomic(marker, json.dumps(done))

    def load_input(self, inp: InputRef, record: Any) -> Any:
        if inp.kind == "source":
            with open(inp.path, "rb") as f:
                return pickle.load(f)
        producer = self.spec(self.node(inp.node))
        cacher = producer.output_cacher(record, producer.output_names.index(inp.output))
        cacher.fixed_path = inp.path
        if inp.lazy_resolve is False:
            lazy = Lazy(inp.output, resolve=False)
            lazy.cacher = cacher
            return lazy
        return cacher.load()

    def _record(self, spec: StageSpec, node: Node) -> tuple[Record, list[Record] | None]:
        manager = self.manager
        record = Record(manager, self.params(node.params_key), hide=True)
        records = None
        if spec.is_aggregate:
            records = [Record(manager, self.params(k), hide=True) for k in node.records]
            record.input_records = records
            record.set_aggregate(records)
        if record.get_hash() != node.hash:
            raise RecompileError(
                f"stage '{spec.name}' record hash is now {record.get_hash()} but was compiled as "
                f"{node.hash}: recompile"
            )
        manager.current_stage_name = spec.name
        record.stages.extend(node.prior_stages)  # as the eager run's record had them
        record.stages.append(spec.name)
        return record, records

    def _inputs(self, spec: StageSpec, node: Node, record: Record, records: list | None):
        inputs: dict[str, Any] = {n: {} for n in spec.inputs} if spec.is_aggregate else {}
        positional: dict[int, Any] = {}
        for inp in node.inputs:
            owner = records[inp.record] if inp.record is not None else record
            value = self.load_input(inp, owner)
            if inp.positional is not None:
                positional[inp.positional] = value
            elif inp.record is not None:
                inputs.setdefault(inp.name, {})[owner] = value
            else:
                inputs[inp.name] = value
        return tuple(positional[i] for i in sorted(positional)), inputs

    def run_node(self, node: Node) -> None:
        spec = self.spec(node)
        record, records = self._record(spec, node)
        args, inputs = self._inputs(spec, node, record, records)
        log.info("stage %s [%s] hash %s: running", spec.name, node.label, node.hash)
        start = time.time()

        def hard_timeout(exc: StageTimeout) -> None:
            """The process ends right after this returns: record the failure first."""
            record_failure(self.workdir, node.id, exc, start, True)

        try:
            values, timing = call_stage(
                spec, record, records, args, inputs, node.label, on_hard_timeout=hard_timeout
            )
            cachers = spec.output_cachers(record)
            for cacher, out in zip(cachers, node.outputs, strict=True):
                cacher.fixed_path = out["path"]
            save_outputs(spec, record, cachers, values, timing)
        except BaseException as exc:
            record_failure(self.workdir, node.id, exc, start, isinstance(exc, StageTimeout))
            raise
        if node.marker:
            done = {"stage": spec.name, "hash": node.hash, "timing": timing}
            write_atomic(node.marker, json.dumps(done))
        clear_failure(self.workdir, node.id)
        marker = done_path(self.workdir, node.id)  # last: what Snakemake waits for
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        write_atomic(marker, "")
        log.info("stage %s [%s]: done in %.3f s", spec.name, node.label, timing["seconds"])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cfcompile.job")
    parser.add_argument("version", help="a compiled version folder, WORKDIR/v/DIGEST")
    parser.add_argument("--stage")
    parser.add_argument("--hash")
    parser.add_argument("--batch", help="run a multi-node job unit")
    parser.add_argument("--results", action="store_true", help="write the results table")
    args = parser.parse_args(argv)
    if args.results:  # the last job: a warm worker has the parameter classes it unpickles
        from cfcompile import results

        return results.main([args.version])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        with terminate_as_exception():  # SIGTERM unwinds: saves abort, failures are recorded
            job = Job(args.version)
            if args.batch:
                job.run_unit(args.batch)
            else:
                job.run_node(job.node((args.stage, args.hash)))
    except Terminated as exc:
        print(f"cfcompile job: {exc}", file=sys.stderr)
        return EXIT_TERMINATED
    except RecompileError as exc:
        print(f"cfcompile job: recompile needed: {exc}", file=sys.stderr)
        return EXIT_RECOMPILE
    except CfcompileError as exc:
        print(f"cfcompile job: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def run_task(version: str, node_ids: list[list[str]]) -> int:
    """Run several nodes in order in this process: one array task of ``--submit``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with terminate_as_exception():  # a no-op where submitit already handles SIGTERM
        job = Job(version)
        for stage, h in node_ids:
            node = job.node((stage, h))
            retries = node.retries
            for attempt in range(retries + 1):  # Snakemake retries its rules; arrays do not
                try:
                    job.run_node(node)
                    break
                except (Exception, StageTimeout):  # a timeout is retried, as under Snakemake
                    if attempt == retries:
                        raise
                    log.warning("stage %s [%s]: attempt %d failed, retrying", stage, h, attempt + 1)
    return len(node_ids)


if __name__ == "__main__":
    sys.exit(main())
