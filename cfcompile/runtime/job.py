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
import signal
import sys
import time
from typing import Any

from cfcompile.core.execute import call_stage, save_outputs
from cfcompile.core.ir import Node, NodeId
from cfcompile.core.outputs import output_cachers
from cfcompile.core.timelimit import StageTimeout
from cfcompile.core.transaction import Terminated, terminate_as_exception, write_atomic
from cfcompile.core.workdir import (
    clear_failure,
    done_path,
    marker_path,
    record_failure,
)
from cfcompile.errors import CfcompileError, RecompileError
from cfcompile.record import Record
from cfcompile.runtime import results
from cfcompile.runtime.compiled import Compiled
from cfcompile.stages import StageSpec

log = logging.getLogger("cfcompile.job")

EXIT_FAILED = 1
EXIT_RECOMPILE = 3
EXIT_TERMINATED = 128 + signal.SIGTERM  # what a shell reports for a process SIGTERM ended


class Job(Compiled):
    """Runs nodes of a compiled version: one node, a unit of several, or an array task."""

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
        self.fresh_modules()
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
            cachers = output_cachers(spec, record)
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
