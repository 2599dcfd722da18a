"""The tracer: run the experiment's real ``run()`` with stages that record instead of execute.

Each stage call becomes a node ``(stage, record hash)``; its outputs are placed in
``record.state`` as ``ArtifactRef`` objects. A reference can be passed along, stored, copied
and handed to other stages, but its value does not exist yet: any attempt to read it inside
``run()`` raises a ``TraceError`` naming the artifact and the line of ``run()``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import traceback
from dataclasses import dataclass, field
from typing import Any

from cfcompile.caching import Lazy
from cfcompile.errors import TraceError
from cfcompile.publish import write_atomic
from cfcompile.stages import StageSpec, gather_inputs, params_name

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_line() -> str:
    """``file:line: code`` of the innermost frame outside cfcompile (the line of run())."""
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PKG_DIR):
            return f"{frame.filename}:{frame.lineno}: {(frame.line or '').strip()}"
    return "<unknown>"


class ArtifactRef:
    """A stage output that will exist when the workflow runs, not while run() is traced."""

    __slots__ = ("node", "output", "path", "lazy")

    def __init__(self, node: tuple[str, str], output: str, path: str, lazy: Lazy | None):
        self.node = node
        self.output = output
        self.path = path
        self.lazy = lazy

    def describe(self) -> str:
        stage, h = self.node
        return f"artifact '{self.output}' of stage '{stage}' (record hash {h})"

    def _refuse(self, what: str) -> TraceError:
        return TraceError(
            f"{_user_line()}\n  run() {what} {self.describe()}, but stage outputs only exist when "
            "the compiled workflow runs. Move this logic into a stage (an @aggregate if it "
            "combines records), or run with --eager."
        )

    def __repr__(self) -> str:
        return f"<ArtifactRef {self.describe()}>"

    def __deepcopy__(self, memo: dict) -> ArtifactRef:
        return self  # immutable placeholder: make_copy shares it

    def __copy__(self) -> ArtifactRef:
        return self

    def __reduce__(self):
        raise self._refuse("pickles")

    def __bool__(self):
        raise self._refuse("tests the truth of")

    def __len__(self):
        raise self._refuse("takes the length of")

    def __iter__(self):
        raise self._refuse("iterates over")

    def __contains__(self, item):
        raise self._refuse("searches in")

    def __getitem__(self, key):
        raise self._refuse("indexes")

    def __setitem__(self, key, value):
        raise self._refuse("assigns into")

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise self._refuse(f"reads attribute '{name}' of")

    def __str__(self):
        raise self._refuse("prints or formats")

    def __format__(self, spec):
        raise self._refuse("prints or formats")

    def __call__(self, *args, **kwargs):
        raise self._refuse("calls")

    def __eq__(self, other):
        raise self._refuse("compares")

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__

    def __int__(self):
        raise self._refuse("converts to a number")

    __float__ = __index__ = __complex__ = __int__


def _arith(name: str):
    def method(self, *args):
        raise self._refuse(f"does arithmetic ({name}) with")

    return method


for _op in (
    "add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow "
    "matmul rmatmul neg pos abs invert and rand or ror xor rxor lshift rshift round"
).split():
    setattr(ArtifactRef, f"__{_op}__", _arith(_op))


@dataclass
class InputRef:
    """How a node gets one input value when it runs."""

    name: str  # the stage input (or keyword) name
    kind: str  # "artifact" (another node's output) or "source" (a pickled value from run())
    path: str  # the file the value is read from
    node: tuple[str, str] | None = None  # producer, for artifacts
    output: str | None = None
    record: int | None = None  # index into the node's input records (aggregates)
    lazy_resolve: bool | None = None  # producer declared Lazy(resolve=...)
    positional: int | None = None  # index of a positional argument


@dataclass
class Node:
    stage: str
    hash: str
    kind: str
    func: str
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
    default_cachers: bool = False
    order: int = 0

    @property
    def id(self) -> tuple[str, str]:
        return (self.stage, self.hash)

    def job_resources(self) -> dict:
        """Declared resources; a stage timeout also bounds the scheduler's runtime (minutes)."""
        res = dict(self.resources)
        if self.timeout and "runtime" not in res:
            res["runtime"] = int(-(-float(self.timeout) // 60)) + 1
        return res

    def targets(self) -> list[str]:
        """Output paths (or the completion marker); built once, read many times by every view."""
        cached = self.__dict__.get("_targets")
        if cached is None:
            cached = self.__dict__["_targets"] = [o["path"] for o in self.outputs] or [self.marker]
        return cached


class TraceEngine:
    """Records stage calls as nodes; ``graph.build`` turns them into the StageGraph."""

    def __init__(self, source_dir: str, overwrite: bool = False, overwrite_stages=()):
        self.nodes: dict[tuple[str, str], Node] = {}
        self.params: dict[str, Any] = {}
        self.source_dir = source_dir
        self.overwrite = overwrite
        self.overwrite_stages = set(overwrite_stages)
        self._sources: dict[bytes, str] = {}
        self.specs: dict[str, StageSpec] = {}
        self.on_params = None  # callback(count) when a new parameter set is first traced

    # -- helpers -------------------------------------------------------------------------
    def _params_key(self, record: Any) -> str | None:
        if record.params is None:
            return None
        key = record.params.hash
        if key not in self.params:
            self.params[key] = record.params
            if self.on_params is not None:
                self.on_params(len(self.params))
        return key

    def _source(self, value: Any, what: str) -> str:
        """Pickle a plain value run() handed to a stage; identical values share one file."""
        try:
            blob = pickle.dumps(value, protocol=4)
        except Exception as exc:
            raise TraceError(
                f"{_user_line()}\n  {what} cannot be pickled ({exc}), so it cannot be shipped "
                "to the workflow's jobs; produce it inside a stage instead"
            ) from exc
        path = self._sources.get(blob)
        if path is None:
            digest = hashlib.md5(blob).hexdigest()
            path = os.path.join(self.source_dir, f"{digest}.pkl")
            self._sources[blob] = path
            if not os.path.exists(path):
                os.makedirs(self.source_dir, exist_ok=True)
                write_atomic(path, blob)
        return path

    def _input(self, name: str, value: Any, spec: StageSpec, record_index=None, pos=None):
        if isinstance(value, ArtifactRef):
            return InputRef(
                name,
                "artifact",
                value.path,
                node=value.node,
                output=value.output,
                record=record_index,
                lazy_resolve=None if value.lazy is None else value.lazy.resolve,
                positional=pos,
            )
        what = f"input '{name}' of stage '{spec.name}'"
        return InputRef(
            name, "source", self._source(value, what), record=record_index, positional=pos
        )

    # -- the engine protocol --------------------------------------------------------------
    def call(self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
        self.specs.setdefault(spec.name, spec)
        node_id = (spec.name, record.get_hash())
        existing = self.nodes.get(node_id)
        if existing is not None:
            self._publish(spec, record, existing)
            return record
        values = gather_inputs(spec, record, records, kwargs)
        inputs: list[InputRef] = []
        record_keys: list[str | None] = []
        if spec.is_aggregate:
            index = {id(r): i for i, r in enumerate(records)}
            record_keys = [self._params_key(r) for r in records]
            for name in spec.inputs:
                for other, value in values.pop(name, {}).items():
                    inputs.append(self._input(name, value, spec, record_index=index[id(other)]))
        for name, value in values.items():
            inputs.append(self._input(name, value, spec))
        for pos, value in enumerate(args):
            inputs.append(self._input(f"<arg {pos}>", value, spec, pos=pos))

        cachers = spec.output_cachers(record)
        default = spec.cachers is None and bool(spec.outputs)
        outputs = [
            {"name": str(o), "path": c.final_path(), "lazy": isinstance(o, Lazy)}
            for o, c in zip(spec.outputs, cachers, strict=True)
        ]
        marker = None
        if not outputs:
            marker = record.manager.get_artifact_path(
                "cfcompile_done.json", record, stage_name=spec.name
            )
        force = self.overwrite or spec.name in self.overwrite_stages
        if record.params is not None:
            force = force or bool(record.params.overwrite)
        elif spec.is_aggregate:
            force = force or any(r.params is not None and r.params.overwrite for r in records)
        node = Node(
            stage=spec.name,
            hash=node_id[1],
            kind=spec.kind,
            func=spec.import_path,
            params_key=self._params_key(record),
            params_name=params_name(record),
            inputs=inputs,
            outputs=outputs,
            marker=marker,
            records=record_keys,
            resources=dict(spec.resources),
            threads=spec.threads,
            timeout=spec.timeout,
            retries=spec.retries,
            force=force,
            default_cachers=default,
            order=len(self.nodes),
        )
        self.nodes[node_id] = node
        self._publish(spec, record, node)
        return record

    def _publish(self, spec: StageSpec, record: Any, node: Node) -> None:
        refs = []
        for output, info in zip(spec.outputs, node.outputs, strict=True):
            ref = ArtifactRef(
                node.id, info["name"], info["path"], output if isinstance(output, Lazy) else None
            )
            record.state[info["name"]] = ref
            refs.append(ref)
        record.output = refs[0] if len(refs) == 1 else (tuple(refs) if refs else None)
