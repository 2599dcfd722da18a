"""A compiled version as the runtime reads it: its settings, nodes and parameter sets, the
stage functions by import path, and each input loaded through its producer's cacher.

Shared by the job runtime (``runtime.job_runner``, which runs nodes) and the results table
(``runtime.results_writer``, which reads what they wrote); neither imports the other.
"""

from __future__ import annotations

import os
import pickle
import socket
from typing import Any

from cfcompile import compat
from cfcompile.caching import Lazy
from cfcompile.caching.base import METADATA_SUFFIX
from cfcompile.core import reuse, reuse_store
from cfcompile.core.ir import InputKind, InputRef, Node, NodeId
from cfcompile.core.outputs import output_cacher
from cfcompile.core.workdir import (
    NodeStore,
    WorkflowInfo,
    file_digests,
    resolve_version,
)
from cfcompile.errors import RecompileError
from cfcompile.hashing import params_hash
from cfcompile.project import modules
from cfcompile.project.imports import forget_researcher_modules, use_project_root
from cfcompile.record import ArtifactManager, Record
from cfcompile.stages import StageSpec


class WorkflowVersion:
    """One compiled version, opened: what every process reading it needs (settings, the node
    store, parameter sets checked against their files, the stages, an artifact manager)."""

    def __init__(self, version: str):
        self.version = resolve_version(version)
        self.info = WorkflowInfo.load(self.version)
        self.store = NodeStore(self.version)
        self.workdir = self.info.workdir
        use_project_root(self.info.project_root)
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
        self.manager.reuse = self.info.reuse
        self.manager.reuse_learned = self.info.reuse and self.info.reuse_learned
        self._params: dict[str | None, Any] = {}
        self._keys: dict[NodeId, str | None] = {}
        self._fresh: dict[str, Any] | None = None
        self._changed = file_digests(list(self.info.digests)) != self.info.digests

    def fresh_modules(self) -> None:
        """Before each node: the researcher's modules are imported afresh, as a fresh process
        would (module-level generators, environment reads, data read at import), and so are
        the parameter sets unpickled from them."""
        forget_researcher_modules()
        self._params.clear()

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

    def decision(self, node: Node) -> reuse.Decision:
        """The node's reuse rule (``core.reuse.decide``), from its own declaration and
        parameters and its producers' classes, as an eager run and ``--dry-run`` decide it."""
        inputs = self._input_keys(node)
        params = self.params(node.params_key)
        return reuse.decide(self.spec(node), params, inputs, reuse.settings(self.info))

    def reuse_key(self, node: Node) -> str | None:
        """The node's class for its consumers: a cached node's counts only when the current
        code identity wrote it; a node about to run gets the decision's (a learned one: the
        class of the earlier node it agrees with)."""
        if node.id in self._keys:
            return self._keys[node.id]
        decision = self.decision(node)
        key = None
        if decision.mode is not reuse.Mode.NONE:
            spec, params = self.spec(node), self.params(node.params_key)
            meta = self._metadata(node, spec)
            if meta is not None:
                key = reuse.cached_class(decision, spec, meta, self.info.cache_path, params)
            elif decision.mode is reuse.Mode.DECLARED:
                key = decision.key
            else:
                found = reuse.find(decision, spec, self.info.cache_path, params)
                key = found[1] if found else None
        self._keys[node.id] = key
        return key

    def _metadata(self, node: Node, spec: StageSpec) -> dict | None:
        """The metadata of the node's first output, when it is in the cache."""
        record = Record(self.manager, self.params(node.params_key), hide=True)
        cacher = output_cacher(spec, record, 0)
        cacher.fixed_path = node.outputs[0]["path"]
        if not os.path.exists(cacher.final_path()):
            return None
        return reuse_store.read_metadata(cacher.final_path(METADATA_SUFFIX))

    def _input_keys(self, node: Node) -> dict[str, str | None] | None:
        if any(i.kind != InputKind.ARTIFACT for i in node.inputs):
            return None  # a value run() handed over: never merged
        return {i.name: self.reuse_key(self.node(i.node)) for i in node.inputs}

    # -- running -----------------------------------------------------------------------------

    def load_input(self, inp: InputRef, record: Any) -> Any:
        if inp.kind == InputKind.SOURCE:
            with open(inp.path, "rb") as f:
                return pickle.load(f)
        producer = self.spec(self.node(inp.node))
        cacher = output_cacher(producer, record, producer.output_names.index(inp.output))
        cacher.fixed_path = inp.path
        if inp.lazy_resolve is False:
            lazy = Lazy(inp.output, resolve=False)
            lazy.cacher = cacher
            return lazy
        return cacher.load()
