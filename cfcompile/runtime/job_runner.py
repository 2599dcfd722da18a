"""The job runtime: ``python -m cfcompile.job VERSION --stage S --hash H`` (or ``--batch UNIT``).

VERSION is a compiled version folder (``WORKDIR/v/DIGEST``): the job reads the nodes and the
parameter sets it was compiled with, and writes markers, logs and failure records into the
shared WORKDIR.

One node = load its parameter set, load its inputs through the producing stages' cachers, call
the undecorated stage function, publish its outputs atomically. This runs once per Snakemake or
Slurm job, so it imports only the standard library, cfcompile's runtime modules and the
researcher's code: never snakemake, networkx or jinja2 (tests/unit/test_layers.py checks).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from cfcompile.core import checkpoint as checkpoints
from cfcompile.core import reuse
from cfcompile.core.checkpoint import Interrupted
from cfcompile.core.execute import Computed, compute
from cfcompile.core.ir import Node, NodeId
from cfcompile.core.outputs import output_cachers
from cfcompile.core.timelimit import StageTimeout
from cfcompile.core.transaction import Terminated, terminate_as_exception, write_atomic
from cfcompile.core.workdir import (
    attempts_path,
    clear_failure,
    done_path,
    force_path,
    marker_path,
    printed_path,
    record_failure,
)
from cfcompile.errors import CfcompileError, RecompileError
from cfcompile.record import Record
from cfcompile.runtime import gpu_slots, requeue, results_writer
from cfcompile.runtime.workflow_version import WorkflowVersion
from cfcompile.stages import StageSpec

log = logging.getLogger("cfcompile.job")

EXIT_FAILED = 1
EXIT_RECOMPILE = 3
EXIT_TERMINATED = 128 + signal.SIGTERM  # what a shell reports for a process SIGTERM ended
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: a checkpointing node stopped to resume later


class Blocked(CfcompileError):
    """A node left out of its job because a node it depends on failed in the same job."""

    def __init__(self, upstream: NodeId):
        super().__init__(f"upstream {upstream[0]} [{upstream[1][:8]}] failed")
        self.upstream = upstream


class UnitFailed(CfcompileError):
    """Some nodes of a job unit or an array task failed; the others ran and kept their outputs."""

    def __init__(self, failed: dict[NodeId, BaseException]):
        errors = {nid: exc for nid, exc in failed.items() if not isinstance(exc, Blocked)}
        blocked = len(failed) - len(errors)
        first = next(iter(errors.items()), None)
        why = (
            ""
            if first is None
            else f"; first: {first[0][0]}: {type(first[1]).__name__}: {first[1]}"
        )
        super().__init__(
            f"{len(errors)} node(s) failed and {blocked} downstream of them were skipped{why}"
        )
        self.failed = failed

    def __reduce__(self):  # submitit pickles a task's exception: keep it to one string
        return (CfcompileError, (str(self),))


class Job(WorkflowVersion):
    """Runs nodes of a compiled version: one node, a unit of several, or an array task."""

    def run_unit(self, unit: str) -> None:
        """Run a unit's members (K parameter sets' chains), then mark the unit done.

        A set's fate does not depend on its neighbours: a failing node fails its own chain
        (the members downstream of it are left, blocked), every other chain runs on, and the
        unit ends with ``UnitFailed`` (exit status 1) once all had their turn. Its marker is
        then not written, and the next run redoes only what is missing.
        """
        start = time.time()
        ran, failed = self.run_members(self.members(unit), retries=False)
        if failed:
            raise UnitFailed(failed)
        marker = marker_path(self.workdir, unit)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        done = {"unit": unit, "ran": sorted(ran), "start": start, "end": time.time()}
        write_atomic(marker, json.dumps(done))

    def must_run(self, node: Node, ran: set[NodeId]) -> bool:
        """An output is missing, a member it depends on ran in this job, or it is forced
        (overwrite) and has not run since the compile (its marker is gone): a retry of the
        job redoes only what did not finish. The rest is curifactory's cache rule."""
        if node.upstream() & ran or not all(os.path.exists(t) for t in node.targets()):
            return True
        return node.force and not os.path.exists(done_path(self.workdir, node.id))

    def run_members(
        self, node_ids: list[NodeId], retries: bool
    ) -> tuple[set[NodeId], dict[NodeId, BaseException]]:
        """Run nodes in order (trace order: each chain's nodes after their upstream), each
        failure confined to the nodes downstream of it; with ``retries`` a failed node is
        retried up to its ``retries=`` (array tasks: Snakemake retries its jobs itself).
        Returns (ran, failed or blocked -> why). A recompile or a signal stops everything."""
        ran: set[NodeId] = set()
        failed: dict[NodeId, BaseException] = {}
        for node_id in node_ids:
            node = self.node(node_id)
            upstream = node.upstream() & failed.keys()
            if upstream:
                failed[node_id] = Blocked(sorted(upstream)[0])
                log.warning("stage %s [%s]: skipped, %s", node.stage, node.label, failed[node_id])
                continue
            if not self.must_run(node, ran):
                continue
            for attempt in range(1 + (node.retries if retries else 0)):
                try:
                    self.run_node(node)
                    ran.add(node_id)
                    failed.pop(node_id, None)
                    break
                except RecompileError:
                    raise
                except (Exception, StageTimeout) as exc:  # a timeout is retried, as Snakemake
                    failed[node_id] = exc
                    log.error("stage %s [%s] failed (attempt %d)", node.stage, node.label,
                              attempt + 1, exc_info=True)  # fmt: skip
        return ran, failed

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
        self.checkpoint_context(node)
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
        gpu_slots.for_node(self.version, self.workdir, node)  # its own devices, or none
        self.fresh_modules()
        spec = self.spec(node)
        record, records = self._record(spec, node)
        args, inputs = self._inputs(spec, node, record, records)
        log.info("stage %s [%s] hash %s: running", spec.name, node.label, node.hash)
        start = time.time()

        def hard_timeout(exc: StageTimeout) -> None:
            """The process ends right after this returns: record the failure first."""
            record_failure(self.workdir, node.id, exc, start, True)

        ran: dict[str, Computed] = {}
        printed = printed_path(self.workdir, node.id) if spec.is_aggregate else None

        def run(scan: bool = False, tags: dict | None = None) -> tuple[list[str], Any]:
            ran["node"] = compute(
                spec,
                record,
                records,
                args,
                inputs,
                node.label,
                cachers,
                scan=scan,
                on_hard_timeout=hard_timeout,
                printed=(lambda: printed_to(printed)) if printed else None,
                tags=tags,
            )
            return ran["node"].published, ran["node"].reads

        try:
            cachers = output_cachers(spec, record)
            for cacher, out in zip(cachers, node.outputs, strict=True):
                cacher.fixed_path = out["path"]
            decision = self.decision(node)
            if decision.mode is reuse.Mode.NONE:
                run()
                self._keys[node.id] = None
            else:
                cache = self.info.cache_path
                source, self._keys[node.id] = reuse.run(
                    decision, spec, record, cachers, lambda k: run(True, k), node.force, cache
                )
                if source is not None:
                    log.info("stage %s: reuses %s", spec.name, source.get("params_name"))
        except BaseException as exc:  # an interruption is no failure: its attempts tell it
            if not isinstance(exc, Interrupted):
                record_failure(self.workdir, node.id, exc, start, isinstance(exc, StageTimeout))
            raise
        timing = ran["node"].timing if "node" in ran else {"seconds": time.time() - start}
        if node.marker:
            done = {"stage": spec.name, "hash": node.hash, "timing": timing}
            write_atomic(node.marker, json.dumps(done))
        clear_failure(self.workdir, node.id)
        marker = done_path(self.workdir, node.id)  # last: what Snakemake waits for
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        write_atomic(marker, "")
        log.info("stage %s [%s]: done in %.3f s", spec.name, node.label, timing["seconds"])

    def checkpoint_context(self, node: Node) -> None:
        """Where a checkpoint of this node reports its attempts, and since when an
        ``--overwrite`` wants it to start over: the trigger file the compile wrote, so that a
        requeued attempt of the same submission still resumes."""
        since = None
        if node.force:
            try:
                since = os.path.getmtime(force_path(self.workdir, node.id))
            except OSError:
                since = time.time()
        journal = attempts_path(self.workdir, node.id)
        checkpoints.configure(node.stage, node.hash, journal, since)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def printed_to(path: str | None) -> Iterator[None]:
    """What the stage prints goes to its log as always and, for an aggregate, to ``path`` too
    (replaced each run; removed when it printed nothing)."""
    if path is None:
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as copy:
        before = sys.stdout
        sys.stdout = _Tee(before, copy)
        try:
            yield
        finally:
            sys.stdout = before
            empty = copy.tell() == 0
    if empty:
        os.remove(path)


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
        return results_writer.main([args.version])
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
    except Interrupted as exc:
        print(f"cfcompile job: {exc.why}; its checkpoint is saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RecompileError as exc:
        print(f"cfcompile job: recompile needed: {exc}", file=sys.stderr)
        return EXIT_RECOMPILE
    except CfcompileError as exc:
        print(f"cfcompile job: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


SAFE_PATH_MARK = "CFCOMPILE_SET_PYTHONSAFEPATH"
"""Set beside ``PYTHONSAFEPATH`` when cfcompile set it to start submitit's local controller
(``backends.slurm.arrays.run_local``); the task takes both off again, so that what a stage
starts sees the environment the researcher gave."""


def run_task(version: str, node_ids: list[list[str]], long: dict | None = None) -> int:
    """Run an array task of ``--submit`` in this process: its chains in order, each failure
    confined to its own chain, each node retried as its stage says; the task fails
    (``UnitFailed``) once every chain had its turn. ``long`` holds the site's checkpoint
    settings (``grace_s``, ``max_requeues``, ``every_s``): a node that checkpoints is saved
    and the task requeued when Slurm warns (``runtime.requeue``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if os.environ.pop(SAFE_PATH_MARK, None):  # set for submitit's local controller only
        os.environ.pop("PYTHONSAFEPATH", None)
    long = long or {}
    if long.get("every_s"):
        os.environ[checkpoints.EVERY_ENV] = str(float(long["every_s"]))
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and is_main_thread():
        # submitit's own USR2 handler would end the task as "timed out and not
        # checkpointable" while it still runs, and its SIGTERM handler ignores the signal.
        # Ours saves a node that checkpoints and requeues the task; any other node runs on
        # to Slurm's limit: state TIMEOUT, which the retry job doubles, and SIGTERM unwinds
        # the node being saved so that its failure is recorded.
        requeue.install(long.get("grace_s") or requeue.DEFAULT_GRACE_S,
                        int(long.get("max_requeues", requeue.DEFAULT_MAX_REQUEUES)))  # fmt: skip
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with terminate_as_exception():
            job = Job(version)
            ran, failed = job.run_members([(stage, h) for stage, h in node_ids], retries=True)
            if failed:
                raise UnitFailed(failed)
    except Interrupted as exc:
        if os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
            raise
        requeue.requeue_and_wait(exc)
    return len(node_ids)


if __name__ == "__main__":
    sys.exit(main())
