"""The node of a compiled workflow and the rules that belong to one node.

A leaf: every layer above (tracer, graph, plan, grouping, backends, views, job runtime) imports
``Node`` from here, so a node's targets, its scheduler resources and its stored row are each
written once. Besides the standard library it imports the resource rule and the stage kinds,
which every job loads anyway: the job runtime can afford it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cfcompile.core.resources import merge, node_resources
from cfcompile.stages import StageKind

NodeId = tuple[str, str]
"""``(stage, record hash)``: the identity of a node in the StageGraph."""


class InputKind(StrEnum):
    """Where a node's input comes from when it runs."""

    ARTIFACT = "artifact"  # another node's output, read through its producer's cacher
    SOURCE = "source"  # a value run() handed to the stage, pickled into the workflow folder


@dataclass(slots=True)
class InputRef:
    """How a node gets one input value when it runs."""

    name: str  # the stage input (or keyword) name
    kind: InputKind
    path: str  # the file the value is read from
    node: NodeId | None = None  # producer, for artifacts
    output: str | None = None
    record: int | None = None  # index into the node's input records (aggregates)
    lazy_resolve: bool | None = None  # producer declared Lazy(resolve=...)
    positional: int | None = None  # index of a positional argument

    @classmethod
    def from_dict(cls, data: dict) -> InputRef:
        node = data.get("node")
        return cls(
            **{
                **data,
                "kind": InputKind(data["kind"]),
                "node": None if node is None else tuple(node),
            }
        )


INPUT_FIELDS = tuple(InputRef.__dataclass_fields__)


@dataclass
class Node:
    """One stage applied to one record: what the tracer saw and what a job needs to run it."""

    stage: str
    hash: str
    kind: StageKind
    func: str  # import path "module:qualname" of the undecorated function's wrapper
    params_key: str | None
    params_name: str | None
    inputs: list[InputRef]
    outputs: list[dict]  # {"name", "path", "lazy"}
    marker: str | None  # completion file for stages without outputs
    records: list[str | None] = field(default_factory=list)  # aggregate inputs' params keys
    resources: dict = field(default_factory=dict)
    threads: int = 1
    timeout: float | None = None
    retries: int = 0
    force: bool = False
    order: int = 0
    prior_stages: list[str] = field(default_factory=list)  # run on the record before

    @property
    def id(self) -> NodeId:
        return (self.stage, self.hash)

    @property
    def label(self) -> str:
        """How people name this node: its parameter set, or ``aggregate`` and a short hash."""
        if self.params_name is not None:
            return self.params_name
        return f"aggregate {self.hash[:8]}" if self.kind == StageKind.AGGREGATE else "None"

    def job_resources(self) -> dict:
        """What this node asks of a scheduler (``resources.node_resources``)."""
        return node_resources(self.resources, self.timeout)

    def runtime_minutes(self) -> float | None:
        """The scheduler runtime of this node, or None when neither runtime nor timeout is set."""
        value = self.job_resources().get("runtime")
        return None if value is None else float(value)

    def targets(self) -> list[str]:
        """Output paths (or the completion marker); built once, read many times by every view."""
        cached = self.__dict__.get("_targets")
        if cached is None:
            cached = self.__dict__["_targets"] = [o["path"] for o in self.outputs] or [self.marker]
        return cached

    def upstream(self) -> set[NodeId]:
        """Nodes whose artifacts this node reads."""
        return {i.node for i in self.inputs if i.node is not None}

    # -- the stored row: what the node store keeps and the job runtime reads ------------------
    def to_row(self) -> str:
        """The node as one JSON row (not kept: at 150,000 nodes the rows alone are 100 MB;
        ``versions.write_workflow_files`` builds each once, for the digest and the store)."""
        d = self.__dict__
        data = {k: d[k] for k in NODE_FIELDS}
        data["inputs"] = [{f: getattr(i, f) for f in INPUT_FIELDS} for i in self.inputs]
        return _ROW_ENCODER.encode(data)

    @classmethod
    def from_row(cls, row: str) -> Node:
        data = json.loads(row)
        data["inputs"] = [InputRef.from_dict(i) for i in data["inputs"]]
        data["kind"] = StageKind(data["kind"])
        return cls(**data)


NODE_FIELDS = tuple(Node.__dataclass_fields__)
_ROW_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def unit_resources(nodes: list[Node]) -> dict[str, Any]:
    """Resources of a job that runs ``nodes`` one after another (``resources.merge``)."""
    return merge((n.job_resources() for n in nodes), in_sequence=True)


def unit_threads(nodes: list[Node]) -> int:
    return max((int(n.threads) for n in nodes), default=1)


def unit_retries(nodes: list[Node]) -> int:
    return max((int(n.retries) for n in nodes), default=0)
