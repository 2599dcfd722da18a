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
import sys
import traceback
from typing import Any

from cfcompile.caching import Lazy
from cfcompile.compiler import graph
from cfcompile.core.execute import gather_inputs
from cfcompile.core.ir import InputKind, InputRef, Node
from cfcompile.core.outputs import output_cachers
from cfcompile.core.provenance import run_info
from cfcompile.core.transaction import write_atomic
from cfcompile.core.workdir import SOURCES, WorkflowInfo, file_digests
from cfcompile.errors import TraceError
from cfcompile.project import modules
from cfcompile.project.discover import EXPERIMENTS, PARAMS, Project
from cfcompile.record import ArtifactManager
from cfcompile.stages import StageSpec, params_name

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


class TraceEngine:
    """Records stage calls as nodes; ``graph.build`` turns them into the StageGraph."""

    def __init__(self, source_dir: str):
        self.nodes: dict[tuple[str, str], Node] = {}
        self.params: dict[str, Any] = {}
        self.source_dir = source_dir
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
                InputKind.ARTIFACT,
                value.path,
                node=value.node,
                output=value.output,
                record=record_index,
                lazy_resolve=None if value.lazy is None else value.lazy.resolve,
                positional=pos,
            )
        what = f"input '{name}' of stage '{spec.name}'"
        return InputRef(
            name, InputKind.SOURCE, self._source(value, what), record=record_index, positional=pos
        )

    # -- the engine protocol --------------------------------------------------------------
    def _check_importable(self, spec: StageSpec) -> None:
        """A job finds the stage again by its import path: it must lead back to this stage."""
        if self.specs.get(spec.import_path) is spec:
            return
        where = f"stage '{spec.name}' ({spec.location})"
        if "<locals>" in spec.func.__qualname__:
            raise TraceError(
                f"{where} is defined inside a function, so a workflow job (another process) "
                "cannot import it. Define it at the top level of a module, or use --eager."
            )
        try:
            found = modules.resolve(spec.import_path)
        except (ImportError, AttributeError, ValueError):
            found = None
        if getattr(found, "spec", None) is not spec:
            raise TraceError(
                f"{where}: importing {spec.import_path} does not give this stage back (was it "
                "defined in a script run as __main__, or is its name reassigned?), so a "
                "workflow job could not call it. Keep stages in an importable module."
            )
        self.specs[spec.import_path] = spec

    def call(self, spec: StageSpec, record: Any, records: list | None, args: tuple, kwargs: dict):
        self._check_importable(spec)
        node_id = (spec.name, record.get_hash())
        existing = self.nodes.get(node_id)
        if existing is not None:
            if existing.func != spec.import_path:
                raise TraceError(
                    f"{_user_line()}\n  two different stages named '{spec.name}' "
                    f"({existing.func} and {spec.import_path}) run on the same record (hash "
                    f"{node_id[1]}): they would write the same cache files. Rename one."
                )
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

        cachers = output_cachers(spec, record)
        outputs = [
            {"name": str(o), "path": c.final_path(), "lazy": isinstance(o, Lazy)}
            for o, c in zip(spec.outputs, cachers, strict=True)
        ]
        marker = None
        if not outputs:
            marker = record.manager.get_artifact_path(
                "cfcompile_done.json", record, stage_name=spec.name
            )
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
            force=record.overwrite_requested(),
            order=len(self.nodes),
            prior_stages=list(record.stages[:-1]),  # metadata's record_prior_stages
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


def trace_project(
    project: Project,
    experiment: str,
    param_names: list[str],
    workdir: str,
    names: list[str] | None = None,
    indices: list[str] | None = None,
    cache_path: str | None = None,
    prefix: str | None = None,
    overwrite: bool = False,
) -> graph.StageGraph:
    """Run the experiment's run() under the tracer; returns the StageGraph."""
    module, sets = project.select(experiment, param_names, names, indices)
    cache = project.cache_path(cache_path)
    engine = TraceEngine(os.path.join(workdir, SOURCES))
    manager = ArtifactManager(
        experiment, cache_path=cache, prefix=prefix, overwrite=overwrite, engine=engine
    )
    with trace_progress(engine, len(sets)):
        module.run(sets, manager)
    used = param_names or [experiment]
    param_modules = [
        f"{PARAMS}.{n}" if n in project.module_files(PARAMS) else f"{EXPERIMENTS}.{n}" for n in used
    ]
    watched = sorted(str(p) for p in (project.root / PARAMS).glob("*.py"))
    watched.append(str(project.module_path(EXPERIMENTS, experiment)))
    info = WorkflowInfo(
        project_root=str(project.root),
        experiment=experiment,
        param_modules=param_modules,
        cache_path=cache,
        prefix=prefix,
        python=sys.executable,
        workdir=os.path.abspath(workdir),
        digests=file_digests(watched),
        run_info=run_info(str(project.root), experiment),
        param_sets=[[p.name, p.hash] for p in sets],
        subset=" ".join(
            f"--{flag} {' '.join(map(str, values))}"
            for flag, values in (("names", names), ("indices", indices))
            if values
        ),
        selection=[w for n in param_names or [] for w in ("-p", n)]
        + [
            w
            for flag, values in (("--names", names), ("--indices", indices))
            if values
            for w in (flag, *map(str, values))
        ],  # fmt: skip
    )
    return graph.build(engine.nodes, engine.params, engine.specs, info)


class trace_progress:
    """A rich progress bar over parameter sets while run() is traced (terminals, big sweeps)."""

    MIN_SETS = 2000

    def __init__(self, engine: TraceEngine, total: int):
        self.engine, self.total, self.progress = engine, total, None

    def __enter__(self) -> trace_progress:
        if self.total < self.MIN_SETS or not sys.stderr.isatty():
            return self
        from rich.progress import Progress

        self.progress = Progress(transient=True)
        self.progress.start()
        task = self.progress.add_task("tracing run()", total=self.total)
        step = max(1, self.total // 200)

        def update(count: int) -> None:
            if count % step == 0:
                self.progress.update(task, completed=min(count, self.total))

        self.engine.on_params = update
        return self

    def __exit__(self, *exc: object) -> bool:
        if self.progress is not None:
            self.progress.stop()
        self.engine.on_params = None
        return False
