"""Generated experiments for the reuse fuzzer: a spec (plain JSON data) and its project files.

A *project* holds many generated *sub-experiments* (``fz0``, ``fz1``, ...), each a package of
its own: parameter classes (``fzK/pclass.py``, a module of their own, as cfcompile advises;
the sets in ``fzK/params.py``), one module per stage (``fzK/stJ.py``, so that each stage's
imports are its own), helper modules with constants (``fzK/helpers_*.py``; a package
``fzK/helpers/`` re-exporting ``compute`` from ``fzK/helpers/core.py``) and its ``run``
(``fzK/run.py``). One experiment
module (``experiments/fz.py``) runs every sub-experiment on its own parameter sets, so one CLI
call (one Snakemake start) runs all of them. Stage functions, outputs and set names are
prefixed per sub-experiment (``fz3_st1``, ``fz3_o1``, ``fz3_p0``); they never collide.

Everything is decided by the spec, which is drawn through a ``Drawer``: hypothesis
(``projects()``, a strategy) or a seeded ``random.Random`` (``random_project(seed)``), so a
finding replays from its seed or from the spec itself (JSON). ``render(project, step)`` gives
the files of the project as they are before command ``step`` of its sequence (edits of
helper constants, stage bodies and added parameter sets are the differences between steps).

Each sub-experiment's ``run`` calls every set's chain (and its aggregate) inside
``fzlib.guard``: an exception there is printed on one line (``FUZZ-CAUGHT Name in stage 'S':
message``) and the other chains go on. ``--eager`` stops at the first exception that leaves
``run()`` (the CLI prints it and exits), so without the guard one refusal would hide every
later sub-experiment's outputs; the guard gives eager what ``snakemake -k`` gives the
compiled routes (a failing chain fails alone). Compiled routes trace ``run()`` without
running stage bodies, so there the guard only sees trace-time errors.

What a stage does is visible in its value: each returns ``[stage name, body constant, one
item per read, the helper constant, its inputs...]`` (``harness.explain`` reads which item
differs). Values per kind come from small pools (``POOLS``) so that many sets agree on what a
stage reads and merges happen; every set has a unique ``rep`` field so hashes never collide.
"""

from __future__ import annotations

import copy
import json
import random
import textwrap
from typing import Any

# -- drawing: hypothesis or a seeded generator, with one interface ------------------------------


class Drawer:
    """What the generator asks for. Booleans shrink towards False (hypothesis shrinks integers
    towards 0), so a shrunk spec has the fewest features."""

    def int(self, lo: int, hi: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def bool(self, p: float) -> bool:
        return self.int(0, 99) >= round(100 * (1 - p))

    def choice(self, seq: list) -> Any:
        return seq[self.int(0, len(seq) - 1)]

    def subset(self, seq: list, lo: int, hi: int) -> list:
        """``lo``..``hi`` distinct items of ``seq``, in ``seq``'s order."""
        pool = list(seq)
        n = self.int(min(lo, len(pool)), min(hi, len(pool)))
        out = []
        for _ in range(n):
            out.append(pool.pop(self.int(0, len(pool) - 1)))
        return [x for x in seq if x in out]


class RandomDrawer(Drawer):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class HypothesisDrawer(Drawer):
    def __init__(self, draw: Any) -> None:
        from hypothesis import strategies as st

        self.draw, self.st = draw, st

    def int(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))


# -- values ---------------------------------------------------------------------------------
# Each kind's values as source text in fzK/params.py; the bool says "eager only" (a lambda
# cannot be pickled to a compiled workflow's jobs, and cfcompile refuses it at compile time).
POOLS: dict[str, list[tuple[str, bool]]] = {
    "int": [("0", False), ("1", False), ("2", False), ("True", False)],
    "float": [("0.5", False), ("1.0", False), ("2", False), ("1.5", False)],
    "str": [("'a'", False), ("'b'", False), ("''", False), ("'a b'", False)],
    "bool": [("True", False), ("False", False)],
    "tuple": [("(1, 2)", False), ("(2, 1)", False), ("(1,)", False), ("[1, 2]", False)],
    "list": [("[1, 2]", False), ("[2, 1]", False), ("[1, 2, 3]", False), ("[]", False)],
    # a nested dataclass with a name field: the hash skips nested names
    "nested": [
        ("Data(name='d1', size=1)", False),
        ("Data(name='d2', size=1)", False),
        ("Data(name='d1', size=2)", False),
    ],
    # two enums of one name and members, in two modules
    "enum": [("ha.Color.RED", False), ("hb.Color.RED", False), ("ha.Color.BLUE", False)],
    # module-level functions sharing a qualname (ha.f, hb.f) and lambdas (eager only)
    "func": [("ha.f", False), ("hb.f", False), ("L1", True), ("L2", True)],
    # callables without a __qualname__: need hash_representations (fzlib.fn_rep)
    "callobj": [
        ("ha.Mul(2)", False),
        ("ha.Mul(3)", False),
        ("functools.partial(ha.g, 1)", False),
        ("functools.partial(ha.g, 2)", False),
        ("functools.partial(hb.g, 1)", False),
    ],
    "array": [
        ("np.array([1, 2, 3])", False),
        ("np.array([1, 2])", False),
        ("np.array([0.5, 2.0])", False),
        ("np.array([3, 2, 1])", False),
    ],
    # an object whose repr leaves its value out ("Obj()")
    "obj": [("ha.Obj(1)", False), ("ha.Obj(2)", False), ("ha.Obj(3)", False)],
}
KINDS = list(POOLS)
KIND_WEIGHTS = {
    "int": 4, "float": 2, "str": 2, "bool": 1, "tuple": 1, "list": 1, "nested": 3,
    "enum": 1, "func": 2, "callobj": 2, "array": 1, "obj": 2,
}  # fmt: skip
CONSTS = ["K_A", "KV", "KF", "KU", "KC"]
HELPER_STYLES = {
    # style: (import line, expression, the constant it reads)
    "modattr": ("from {k} import helpers_k as hk", "hk.K_A", "K_A"),
    "value": ("from {k}.helpers_v import KV", "KV", "KV"),
    "func": ("from {k}.helpers_f import getk", "getk()", "KF"),
    "transitive": ("from {k}.helpers_t import getk_t", "getk_t()", "KU"),
    "pkgfunc": ("from {k}.helpers import compute", "compute(1)", "KC"),
    "pkgmod": ("from {k} import helpers as hp", "hp.compute(1)", "KC"),
}
VIAS = ["attr", "attr", "attr", "getattr", "helper", "helper", "asdict", "pool"]
ALLOWED_REFUSALS = ("UndeclaredParameterError", "ParameterWriteError")


def weighted(d: Drawer, weights: dict[str, int]) -> str:
    keys = list(weights)
    total = sum(weights.values())
    pick = d.int(0, total - 1)
    for key in keys:
        pick -= weights[key]
        if pick < 0:
            return key
    return keys[-1]


def _pool_indices(kind: str, compiled: bool) -> list[int]:
    return [i for i, (_, eager_only) in enumerate(POOLS[kind]) if not (compiled and eager_only)]


# -- the spec -------------------------------------------------------------------------------
def draw_sub(
    d: Drawer, k: int, compiled: bool, n_steps: int, features: float = 1.0, allow_hang: bool = False
) -> dict:
    """One sub-experiment: parameter classes, sets, a chain of stages, edits per step."""
    name = f"fz{k}"
    fields = []
    for i in range(d.int(1, 4)):
        kind = weighted(d, KIND_WEIGHTS)
        allowed = _pool_indices(kind, compiled)
        pool = d.subset(allowed, 1, 3)
        fields.append(
            {"name": f"f{i}", "kind": kind, "pool": pool, "optional": d.bool(0.15 * features)}
        )
    hash_reps = {}
    for f in fields:
        if f["kind"] == "callobj":
            hash_reps[f["name"]] = "fn"
        elif f["kind"] == "obj" and d.bool(0.5):
            hash_reps[f["name"]] = "obj"
    subclass = d.bool(0.4 * features)
    method_field = d.choice(fields)["name"] if (subclass or d.bool(0.3)) else None

    def draw_set() -> dict:
        vals = {}
        for f in fields:
            if f["optional"] and d.bool(0.25):
                vals[f["name"]] = None
            else:
                vals[f["name"]] = d.choice(f["pool"])
        cls = "P2" if subclass and d.bool(0.5) else "P"
        return {"cls": cls, "vals": vals}

    sets = [draw_set() for _ in range(d.int(2, 5))]
    extra = []
    for _ in range(d.int(0, 2)):
        if d.bool(0.6):  # a copy of an old set's values, one field changed at most
            new = copy.deepcopy(d.choice(sets))
            f = d.choice(fields)
            if d.bool(0.5):
                new["vals"][f["name"]] = d.choice(f["pool"])
            extra.append(new)
        else:
            extra.append(draw_set())

    # what a stage can read
    paths = [f["name"] for f in fields]
    for f in fields:
        if f["kind"] == "nested":
            paths += [f["name"] + ".name", f["name"] + ".size"]
    paths_rare = ["rep", "name"]

    def draw_read() -> dict:
        if method_field and d.bool(0.15):
            return {"path": method_field, "via": "method"}
        path = d.choice(paths_rare) if d.bool(0.06) else d.choice(paths)
        via = d.choice(VIAS)
        if via == "pool" and not d.bool(0.5 * features):
            via = "attr"
        if via == "pool" and allow_hang and d.bool(0.15):
            via = "poolwith"  # ``with Pool(...)``: its exit SIGTERMs the workers
        if via == "asdict" and "." in path:
            via = "attr"
        return {"path": path, "via": via}

    n_stages = d.int(1, 4)
    stages = []
    nested_inner = None
    for j in range(n_stages):
        reads = [draw_read() for _ in range(d.int(0, 3))]
        decl = weighted(d, {"exact": 9, "parent": 2, "lie": 2, "none": 7})
        exact = sorted({r["path"] for r in reads})
        drop = None
        if decl == "lie":
            if exact:
                drop = d.choice(exact)
            else:
                decl = "exact"
        cacher = "pickle" if d.bool(0.3) else "json"
        if cacher == "json":
            wrap = d.choice(["list", "dict"])
        else:
            wraps = ["tuple", "box", "box", "params"] if features >= 1 else ["tuple", "box"]
            wrap = d.choice(wraps)
        helper = d.choice(list(HELPER_STYLES)) if d.bool(0.6) else None
        stage = {
            "reads": reads,
            "decl": decl,
            "drop": drop,
            "cacher": cacher,
            "wrap": wrap,
            "const": d.int(1, 9),
            "helper": helper,
            "second_input": j >= 2 and d.bool(0.3),
            "nested_call": d.bool(0.05 * features),
            "writes": d.choice(paths[: len(fields)]) if d.bool(0.04 * features) else None,
        }
        if stage["nested_call"] and nested_inner is None:
            nested_inner = {"path": d.choice(paths)}
        stage["uses"] = declared(stage)
        stages.append(stage)
    aggregate = d.bool(0.4)

    # edits before each later step: helper constants (those a stage reads, mostly), stage
    # bodies, added sets, reverts
    used_consts = sorted({HELPER_STYLES[s["helper"]][2] for s in stages if s["helper"]})
    initial = {c: d.int(1, 5) for c in CONSTS}
    for j, s in enumerate(stages):
        initial[f"body{j}"] = s["const"]
    initial["extra"] = 0
    edits: dict[str, list] = {}
    overwrite: dict[str, int] = {}
    state = dict(initial)
    for t in range(1, n_steps):
        mine = []
        if t == 1 and used_consts and extra and d.bool(0.5):
            # the case that finds stale code: a constant a stage reads changes, then a new set
            # that agrees with an old one on what the stage reads arrives
            key = d.choice(used_consts)
            state[key] = state[key] % 9 + 1
            state["extra"] = 1
            mine += [[key, state[key]], ["extra", 1]]
        for _ in range(d.int(0, 2)):
            what = weighted(d, {"const": 5, "body": 2, "extra": 4, "revert": 2})
            if what == "const":
                key = d.choice(used_consts) if used_consts and d.bool(0.8) else d.choice(CONSTS)
                value = state[key] % 9 + 1
            elif what == "body":
                key = f"body{d.int(0, len(stages) - 1)}"
                value = state[key] % 9 + 1
            elif what == "extra" and state["extra"] < len(extra):
                key, value = "extra", min(len(extra), state["extra"] + d.int(1, 2))
            else:
                changed = [c for c in state if c != "extra" and state[c] != initial[c]]
                if not changed:
                    continue
                key = d.choice(sorted(changed))
                value = initial[key]
            state[key] = value
            mine.append([key, value])
        if mine:
            edits[str(t)] = mine
        if d.bool(0.5):
            overwrite[str(t)] = d.int(0, len(sets) - 1)
    return {
        "k": k,
        "name": name,
        "fields": fields,
        "hash_reps": hash_reps,
        "subclass": subclass,
        "method_field": method_field,
        "sets": sets,
        "extra": extra,
        "stages": stages,
        "inner": nested_inner,
        "aggregate": aggregate,
        "consts": initial,
        "edits": edits,
        "overwrite": overwrite,
    }


def declared(stage: dict) -> list[str] | None:
    """A stage's ``uses=[...]`` from what it reads and how it declares: ``exact`` (the paths
    read), ``parent`` (nested paths by their parent, ``data`` for ``data.name``), ``lie`` (one
    path read is left out: a refusal is expected), ``none`` (no declaration)."""
    exact = sorted({r["path"] for r in stage["reads"]})
    if stage["decl"] == "none":
        return None
    if stage["decl"] == "parent":
        return sorted({p.split(".")[0] for p in exact})
    if stage["decl"] == "lie":
        return [p for p in exact if p != stage["drop"]]
    return exact


def draw_project(
    d: Drawer,
    n_subs: int,
    compiled: bool,
    max_steps: int = 3,
    features: float = 1.0,
    allow_hang: bool = False,
) -> dict:
    """A project: ``n_subs`` sub-experiments and a sequence of commands (step 0 a plain run;
    later ones a plain run or ``--names ... --overwrite``)."""
    n_steps = d.int(1, max_steps)
    steps = ["run"] + [d.choice(["run", "overwrite", "run"]) for _ in range(n_steps - 1)]
    subs = [draw_sub(d, k, compiled, n_steps, features, allow_hang) for k in range(n_subs)]
    return {"version": 1, "compiled": compiled, "steps": steps, "subs": subs}


def random_project(
    seed: int, n_subs: int, compiled: bool, max_steps: int = 3, allow_hang: bool = False
) -> dict:
    """``allow_hang``: some pool reads use ``with Pool(...)``, whose exit SIGTERMs the workers;
    a job's SIGTERM handler, inherited through fork, can make that hang (a cfcompile bug the
    fuzzer found; the command is killed at the harness's timeout)."""
    project = draw_project(RandomDrawer(seed), n_subs, compiled, max_steps, allow_hang=allow_hang)
    project["seed"] = seed
    return project


def projects(n_subs: int = 6, compiled: bool = True, max_steps: int = 3):
    """A hypothesis strategy of project specs."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        return draw_project(HypothesisDrawer(draw), n_subs, compiled, max_steps)

    return build()


def only_subs(project: dict, keep: list[int]) -> dict:
    """The same project with only some sub-experiments (renumbering nothing: the names stay)."""
    out = copy.deepcopy(project)
    out["subs"] = [s for s in out["subs"] if s["k"] in keep]
    return out


# -- what the sequence does -----------------------------------------------------------------
def state_at(sub: dict, step: int) -> dict:
    """The constants, stage-body constants and number of added sets before command ``step``."""
    state = dict(sub["consts"])
    for t in range(1, step + 1):
        for key, value in sub["edits"].get(str(t), []):
            state[key] = value
    return state


def active_sets(sub: dict, step: int) -> list[tuple[str, dict]]:
    n = state_at(sub, step)["extra"]
    named = [(f"{sub['name']}_p{i}", s) for i, s in enumerate(sub["sets"])]
    named += [(f"{sub['name']}_x{i}", s) for i, s in enumerate(sub["extra"][:n])]
    return named


def step_args(project: dict, step: int) -> list[str]:
    """The command's extra arguments at ``step``: ``--names A B --overwrite`` or nothing."""
    if project["steps"][step] != "overwrite":
        return []
    names = [
        f"{s['name']}_p{s['overwrite'][str(step)]}"
        for s in project["subs"]
        if str(step) in s["overwrite"]
    ]
    return ["--names", *names, "--overwrite"] if names else []


def stage_names(sub: dict) -> list[str]:
    """Stage functions in chain order (the nested inner stage first: it runs inside one)."""
    k = sub["name"]
    names = [f"{k}_inner"] if sub["inner"] else []
    names += [f"{k}_st{j}" for j in range(len(sub["stages"]))]
    if sub["aggregate"]:
        names.append(f"{k}_agg")
    return names


def upstream(sub: dict, stage: str) -> list[str]:
    """The stages a node of ``stage`` depends on (itself included), within its set's chain."""
    names = stage_names(sub)
    if stage not in names:
        return [stage]
    k = sub["name"]
    if stage.endswith("_inner"):  # it runs inside the first stage that calls it
        first = next(j for j, s in enumerate(sub["stages"]) if s["nested_call"])
        return [stage, *(f"{k}_st{i}" for i in range(first + 1))]
    out = [stage]
    if stage.endswith("_agg"):
        return names
    j = int(stage.rsplit("_st", 1)[1])
    out += [f"{k}_st{i}" for i in range(j)]
    if sub["inner"] and any(s["nested_call"] for s in sub["stages"][: j + 1]):
        out.append(f"{k}_inner")
    return out


def features_of(sub: dict, stage: str) -> list[str]:
    """Tags describing what a stage does, for grouping findings."""
    tags = set()
    if stage.endswith("_agg"):
        tags.add("aggregate")
        stages = sub["stages"]
    elif stage.endswith("_inner"):
        return ["nested-inner"]
    else:
        stages = [sub["stages"][int(stage.rsplit("_st", 1)[1])]]
    kinds = {f["name"]: f["kind"] for f in sub["fields"]}
    for s in stages:
        tags.add(f"decl:{s['decl']}")
        for r in s["reads"]:
            tags.add(f"via:{r['via']}")
            top = r["path"].split(".")[0]
            if "." in r["path"]:
                tags.add(f"path:{r['path'].split('.')[1]}")
            tags.add(f"kind:{kinds.get(top, top)}")
        if s["helper"]:
            tags.add(f"helper:{s['helper']}")
        if s["wrap"] == "params":
            tags.add("holds-params")
        if s["writes"]:
            tags.add("writes-params")
        if s["nested_call"]:
            tags.add("nested-call")
    if any(s["writes"] for s in sub["stages"]):
        tags.add("sub-writes-params")
    if sub["subclass"]:
        tags.add("subclass")
    if sub["hash_reps"]:
        tags.add("hash-reps")
    return sorted(tags)


# -- rendering ------------------------------------------------------------------------------
FZLIB = '''
"""Shared by every generated sub-experiment (never edited by the fuzzer)."""

import dataclasses
import enum
import multiprocessing
import sys

import numpy as np

SKIP = {"hash", "overwrite", "hash_representations"}


class Box:
    """A pickled output whose canonical form is ``value()``."""

    def __init__(self, items):
        self.items = items

    def value(self):
        return ["box", canon(self.items)]

    def __repr__(self):
        return "Box()"


def canon(v):
    """A JSON-able, deterministic form of a value (what outputs are made of and compared by)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, enum.Enum):
        return ["enum", type(v).__module__, type(v).__qualname__, v.name, canon(v.value)]
    if isinstance(v, np.ndarray):
        return ["nd", str(v.dtype), v.tolist()]
    if isinstance(v, np.generic):
        return ["np", str(v.dtype), v.item()]
    if isinstance(v, tuple):
        return ["tuple"] + [canon(x) for x in v]
    if isinstance(v, list):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return {str(k): canon(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, Box):
        return v.value()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return ["dc", type(v).__qualname__] + [
            [f.name, canon(getattr(v, f.name))]
            for f in dataclasses.fields(v)
            if f.name not in SKIP
        ]
    if hasattr(v, "fz_value"):
        return ["obj", type(v).__module__, canon(v.fz_value())]
    if callable(v):
        return ["fn", canon(v(3))]
    return ["repr", repr(v)]


def sub(v, name):
    """A nested field of ``v`` (None stays None)."""
    return getattr(v, name) if v is not None else None


def fn_rep(p, v):
    """hash_representations for callables without a qualname (partial, callable objects)."""
    if v is None:
        return "None"
    if hasattr(v, "func"):
        return f"partial:{v.func.__module__}.{v.func.__qualname__}{v.args!r}"
    if hasattr(v, "k"):
        return f"{type(v).__module__}.{type(v).__qualname__}({v.k})"
    return f"{getattr(v, '__module__', '?')}.{getattr(v, '__qualname__', repr(v))}"


def obj_rep(p, v):
    return "None" if v is None else str(v.value)


_P = None


def _pool_work(args):
    field, name = args
    v = getattr(_P, field)
    if name:
        v = sub(v, name)
    return canon(v)


def pool_read(p, path, terminate=False):
    """A field read in a forked pool worker (the worker sees ``p`` through fork, not pickle).
    The pool is closed and joined; ``terminate=True`` leaves it by ``with`` (``terminate()``,
    which SIGTERMs the workers)."""
    global _P
    field, _, name = path.partition(".")
    _P = p
    try:
        if terminate:
            with multiprocessing.get_context("fork").Pool(2) as pool:
                return pool.map(_pool_work, [(field, name)])[0]
        pool = multiprocessing.get_context("fork").Pool(2)
        try:
            return pool.map(_pool_work, [(field, name)])[0]
        finally:
            pool.close()
            pool.join()
    finally:
        _P = None


def guard(call, manager=None):
    """Run one chain; an exception is printed on one line (with the stage that was running)
    and the next chain goes on."""
    try:
        call()
        return True
    except Exception as exc:  # noqa: BLE001 - every refusal, whatever its class
        text = " ".join(str(exc).split())
        where = getattr(manager, "current_stage_name", None)
        where = f" in stage '{where}'" if where else ""
        print(f"FUZZ-CAUGHT {type(exc).__name__}{where}: {text}", file=sys.stderr, flush=True)
        return False
'''

HELPERS_A = '''
import enum


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Obj:
    """Its repr leaves the value out."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "Obj()"

    def fz_value(self):
        return self.value


class Mul:
    """A callable object with a repr that leaves its factor out."""

    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return self.k * x

    def __repr__(self):
        return "Mul()"


def f(x):
    return x + 1


def g(a, x):
    return a * 10 + x
'''

HELPERS_B = """
import enum


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def f(x):
    return x + 2


def g(a, x):
    return a * 100 + x
"""


def _class_module(sub: dict) -> str:
    """The parameter classes, in a module of their own (cfcompile keys a class on the files
    of its module: sets added beside it would make it another class)."""
    lines = [
        "import functools",
        "from dataclasses import dataclass",
        "",
        "import numpy as np",
        "",
        "import cfcompile as cf",
        "import fzlib",
        "",
        "L1 = lambda x: x + 10  # noqa: E731",
        "L2 = lambda x: x * 3  # noqa: E731",
        "",
        "",
        "@dataclass",
        "class Data:",
        "    name: str = ''",
        "    size: int = 0",
        "",
        "",
        "@dataclass",
        "class P(cf.ExperimentParameters):",
        "    rep: int = 0",
    ]
    for f in sub["fields"]:
        lines.append(f"    {f['name']}: object = None")
    if sub["hash_reps"]:
        reps = ", ".join(
            f"{n}=fzlib.{'fn_rep' if how == 'fn' else 'obj_rep'}"
            for n, how in sorted(sub["hash_reps"].items())
        )
        lines.append(f"    hash_representations: dict = cf.set_hash_functions({reps})")
    mf = sub["method_field"]
    if mf:
        lines += ["", "    def scale(self):", f"        return ['P', fzlib.canon(self.{mf})]"]
    lines += ["", "", "@dataclass", "class P2(P):"]
    if mf:
        lines += ["    def scale(self):", f"        return ['P2', fzlib.canon(self.{mf})]"]
    else:
        lines += ["    pass"]
    lines.append("")
    return "\n".join(lines)


def _params_module(sub: dict, step: int) -> str:
    k = sub["name"]
    state = state_at(sub, step)
    lines = [
        "import functools  # noqa: F401",
        "",
        "import numpy as np  # noqa: F401",
        "",
        f"from {k} import helpers_a as ha  # noqa: F401",
        f"from {k} import helpers_b as hb  # noqa: F401",
        f"from {k}.pclass import L1, L2, P, P2, Data  # noqa: F401",
    ]
    kinds = {f["name"]: f["kind"] for f in sub["fields"]}

    def make(name: str, s: dict, rep: int) -> str:
        args = [f"name={name!r}", f"rep={rep}"]
        for fname, idx in s["vals"].items():
            value = "None" if idx is None else POOLS[kinds[fname]][idx][0]
            args.append(f"{fname}={value}")
        return f"        {s['cls']}({', '.join(args)}),"

    lines += ["", "", f"EXTRA = {state['extra']}  # fz:extra", "", "", "def sets():", "    out = ["]
    for i, s in enumerate(sub["sets"]):
        lines.append(make(f"{k}_p{i}", s, 1000 * sub["k"] + i))
    lines += ["    ]", "    extra = ["]
    for i, s in enumerate(sub["extra"]):
        lines.append(make(f"{k}_x{i}", s, 1000 * sub["k"] + 100 + i))
    lines += ["    ]", "    return out + extra[:EXTRA]", ""]
    return "\n".join(lines)


def _read_expr(sub: dict, read: dict) -> str:
    path, via = read["path"], read["via"]
    top, _, rest = path.partition(".")
    if via == "method":
        return "record.params.scale()"
    if via == "pool":
        return f"fzlib.pool_read(record.params, {path!r})"
    if via == "poolwith":
        return f"fzlib.pool_read(record.params, {path!r}, terminate=True)"
    if via == "asdict":
        return f"dataclasses.asdict(record.params)[{top!r}]"
    if via == "getattr":
        base = f"getattr(record.params, {top!r})"
    elif via == "helper":
        base = f"hr.read(record.params, {top!r})"
    else:
        base = f"record.params.{top}"
    return f"fzlib.sub({base}, {rest!r})" if rest else base


def _stage_module(sub: dict, j: int, step: int) -> str:
    k = sub["name"]
    s = sub["stages"][j]
    state = state_at(sub, step)
    imports = [
        "import dataclasses",
        "",
        "import cfcompile as cf",
        "from cfcompile.caching import JsonCacher, PickleCacher",
        "",
        "import fzlib",
    ]
    if any(r["via"] == "helper" for r in s["reads"]):
        imports.append(f"from {k} import helpers_r as hr")
    if s["helper"]:
        imports.append(HELPER_STYLES[s["helper"]][0].format(k=k))
    if s["nested_call"]:
        imports.append(f"from {k}.inner import {k}_inner")
    inputs = [f"{k}_o{j - 1}"] if j >= 1 else []
    if s["second_input"]:
        inputs.append(f"{k}_o0")
    cacher = "PickleCacher" if s["cacher"] == "pickle" else "JsonCacher"
    decorator = f"@cf.stage(inputs={inputs!r}, outputs=[{f'{k}_o{j}'!r}], cachers=[{cacher}]"
    if s["uses"] is not None:
        decorator += f", uses={s['uses']!r}"
    decorator += ")"
    body = [f"    c = {state[f'body{j}']}  # fz:body", f"    vals = [{f'{k}_st{j}'!r}, c]"]
    for r in s["reads"]:
        body.append(f"    vals.append(fzlib.canon({_read_expr(sub, r)}))")
    if s["helper"]:
        body.append(f"    vals.append(['k', fzlib.canon({HELPER_STYLES[s['helper']][1]})])")
    for name in inputs:
        body.append(f"    vals.append(['in', fzlib.canon({name})])")
    if s["nested_call"]:
        body.append(f"    {k}_inner(record)")
        body.append(f"    vals.append(['inner', fzlib.canon(record.state[{f'{k}_inn'!r}])])")
    if s["writes"]:
        body.append(f"    record.params.{s['writes']} = 'written'")
    wrap = s["wrap"]
    if wrap == "list":
        body.append("    return fzlib.canon(vals)")
    elif wrap == "dict":
        body.append("    return {'stage': vals[0], 'vals': fzlib.canon(vals[1:])}")
    elif wrap == "tuple":
        body.append("    return (tuple(fzlib.canon(vals)),)  # one output: a tuple")
    elif wrap == "box":
        body.append("    return fzlib.Box(fzlib.canon(vals))")
    else:  # the output holds record.params itself
        body.append("    return fzlib.Box([fzlib.canon(vals), record.params])")
    args = ", ".join(["record", *inputs])
    return "\n".join([*imports, "", "", decorator, f"def {k}_st{j}({args}):", *body, ""])


def _inner_module(sub: dict) -> str:
    k = sub["name"]
    path = sub["inner"]["path"]
    top, _, rest = path.partition(".")
    expr = f"record.params.{top}"
    if rest:
        expr = f"fzlib.sub({expr}, {rest!r})"
    return textwrap.dedent(
        f"""
        import cfcompile as cf
        from cfcompile.caching import JsonCacher

        import fzlib


        @cf.stage(outputs=[{f"{k}_inn"!r}], cachers=[JsonCacher])
        def {k}_inner(record):
            return ['inner', fzlib.canon({expr})]
        """
    ).lstrip()


def _run_module(sub: dict) -> str:
    k = sub["name"]
    n = len(sub["stages"])
    lines = [
        "import json",
        "",
        "import cfcompile as cf",
        "from cfcompile.caching import JsonCacher",
        "",
        "import fzlib",
    ]
    lines += [f"from {k}.st{j} import {k}_st{j}" for j in range(n)]
    if sub["aggregate"]:
        last = f"{k}_o{n - 1}"
        lines += [
            "",
            "",
            f"@cf.aggregate(inputs=[{last!r}], outputs=[{f'{k}_agg'!r}], cachers=[JsonCacher])",
            f"def {k}_agg(record, records, {last}):",
            "    return sorted(",
            f"        json.dumps(fzlib.canon(v), sort_keys=True) for v in {last}.values()",
            "    )",
        ]
    chain = "r"
    for j in range(n):
        chain = f"{k}_st{j}({chain})"
    lines += [
        "",
        "",
        "def run(param_sets, manager):",
        "    records = []",
        "    for p in param_sets:",
        "        r = cf.Record(manager, p)",
        "        records.append(r)",
        f"        fzlib.guard(lambda: {chain}, manager)",
    ]
    if sub["aggregate"]:
        lines += [
            "    if param_sets:",
            f"        fzlib.guard(lambda: {k}_agg(cf.Record(manager, None), records), manager)",
        ]
    lines.append("")
    return "\n".join(lines)


def render(project: dict, step: int = 0) -> dict[str, str]:
    """The project's files before command ``step``: {relative path: text}."""
    files = {"fzlib.py": FZLIB.lstrip()}
    subs = project["subs"]
    exp = ["import fzlib  # noqa: F401", ""]
    exp += [f"import {s['name']}.run" for s in subs]
    exp += ["", "", "SUBS = ["]
    exp += [f"    ({s['name'] + '_'!r}, {s['name']}.run.run)," for s in subs]
    exp += [
        "]",
        "",
        "",
        "def run(param_sets, manager):",
        "    for prefix, sub_run in SUBS:",
        "        sub_run([p for p in param_sets if p.name.startswith(prefix)], manager)",
        "",
    ]
    files["experiments/fz.py"] = "\n".join(exp)
    par = [f"from {s['name']}.params import sets as sets_{s['k']}" for s in subs]
    par += ["", "", "def get_params():", "    out = []"]
    par += [f"    out += sets_{s['k']}()" for s in subs]
    par += ["    return out", ""]
    files["params/fz.py"] = "\n".join(par)
    for sub in subs:
        k = sub["name"]
        state = state_at(sub, step)
        files[f"{k}/__init__.py"] = ""
        files[f"{k}/pclass.py"] = _class_module(sub)
        files[f"{k}/params.py"] = _params_module(sub, step)
        files[f"{k}/helpers_a.py"] = HELPERS_A.lstrip()
        files[f"{k}/helpers_k.py"] = f"K_A = {state['K_A']}  # fz:K_A\n"
        files[f"{k}/helpers_b.py"] = HELPERS_B.lstrip()
        files[f"{k}/helpers_v.py"] = f"KV = {state['KV']}  # fz:KV\n"
        files[f"{k}/helpers_f.py"] = (
            f"KF = {state['KF']}  # fz:KF\n\n\ndef getk():\n    return KF\n"
        )
        files[f"{k}/helpers_t.py"] = (
            f"from {k} import helpers_u\n\n\ndef getk_t():\n    return helpers_u.KU\n"
        )
        files[f"{k}/helpers_u.py"] = f"KU = {state['KU']}  # fz:KU\n"
        files[f"{k}/helpers/__init__.py"] = f"from {k}.helpers.core import compute  # noqa: F401\n"
        files[f"{k}/helpers/core.py"] = (
            f"KC = {state['KC']}  # fz:KC\n\n\ndef compute(x):\n    return [x, KC]\n"
        )
        files[f"{k}/helpers_r.py"] = "def read(p, field):\n    return getattr(p, field)\n"
        for j in range(len(sub["stages"])):
            files[f"{k}/st{j}.py"] = _stage_module(sub, j, step)
        if sub["inner"]:
            files[f"{k}/inner.py"] = _inner_module(sub)
        files[f"{k}/run.py"] = _run_module(sub)
    return files


def describe(sub: dict) -> str:
    """A short human summary of a sub-experiment (for reports)."""
    kinds = ", ".join(
        f"{f['name']}:{f['kind']}{'?' if f['optional'] else ''}" for f in sub["fields"]
    )
    out = [f"{sub['name']}: fields {kinds}; {len(sub['sets'])}+{len(sub['extra'])} sets"]
    if sub["subclass"]:
        out.append(f"subclass P2 overrides scale() (reads {sub['method_field']})")
    if sub["hash_reps"]:
        out.append(f"hash_representations {sub['hash_reps']}")
    for j, s in enumerate(sub["stages"]):
        reads = ", ".join(f"{r['path']}({r['via']})" for r in s["reads"]) or "-"
        extra = [
            x
            for x in (
                s["helper"],
                f"writes {s['writes']}" if s["writes"] else None,
                "calls the nested stage" if s["nested_call"] else None,
                "also reads output 0" if s["second_input"] else None,
            )
            if x
        ]
        out.append(
            f"st{j}: reads {reads}; uses={s['uses']} ({s['decl']}); {s['cacher']}/{s['wrap']}"
            + (f"; {', '.join(extra)}" if extra else "")
        )
    if sub["inner"]:
        out.append(f"nested stage {sub['name']}_inner reads {sub['inner']['path']} (undeclared)")
    if sub["aggregate"]:
        out.append("aggregate over the last output")
    if sub["edits"]:
        out.append(f"edits {json.dumps(sub['edits'])}")
    if sub["overwrite"]:
        out.append(f"overwrite {json.dumps(sub['overwrite'])}")
    return "\n  ".join(out)
