"""One decision, on every route: may a node share its computation with other sets', in which
class, and where does it copy from.

Two nodes of one stage are equivalent when everything a fresh computation of either depends
on is the same: the stage (its code identity: source, outputs, cachers, and every project
file it can reach, ``StageSpec.identity``), the parameter class (``identity.class_identity``),
the value of each field the stage reads (``core.tokens``: faithful encodings only; a parent
path such as ``data`` covers every field of the nested object, ``name`` and ``hash``
included), and each input's class. ``decide`` says which rule applies:

- **declared** (``@stage(uses=[...])``): the key is computed before the call, from the
  declared paths; every read is checked against them (``core.reads``).
- **learned** (``--reuse``, stages that declare nothing): a node copies an earlier node of
  the same base (stage, class, inputs) whose read fields it agrees with (``core.learned``).
- **none**: aggregates, ``reuse=False``, ``--no-reuse``, values ``run()`` hands over, inputs
  from nodes merged with none, and a declared field whose value has no faithful encoding
  (the reason is kept for ``--dry-run``).

The plan (``--dry-run``), the eager engine and the job runtime all call ``decide``,
``cached_class`` and ``run``; the files are ``core.reuse_store``'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from enum import StrEnum
from typing import Any

from cfcompile.core import learned, reuse_store, tokens
from cfcompile.core.reads import EVERYTHING
from cfcompile.core.tokens import UnknownParameterError as UnknownParameterError
from cfcompile.core.tokens import path_digest
from cfcompile.stages import StageSpec


class Mode(StrEnum):
    NONE = "none"
    DECLARED = "declared"
    LEARNED = "learned"


@dataclass(frozen=True)
class Decision:
    mode: Mode
    key: str | None = None
    """declared: the class; learned: the base its classes start from."""
    why: str | None = None
    """Why the node is merged with nothing, when the researcher can act on it."""


NONE = Decision(Mode.NONE)


@dataclass(frozen=True)
class Settings:
    reuse: bool = True
    """False: ``--no-reuse``, every node computes."""
    learned: bool = False
    """``--reuse``: stages without ``uses=`` merge by what they were seen to read."""


def settings(holder: Any) -> Settings:
    """The settings a manager (eager) or a compiled version's info carries."""
    on = bool(getattr(holder, "reuse", True))
    return Settings(on, on and bool(getattr(holder, "reuse_learned", False)))


def decide(
    spec: StageSpec, params: Any, inputs: dict[str, str | None] | None, how: Settings
) -> Decision:
    """The rule for one node. ``inputs`` maps each input to its producer's class (None: a
    producer merged with none); ``inputs=None`` means values were handed over in the call."""
    if not how.reuse or not spec.reuse or spec.is_aggregate or not spec.outputs:
        return NONE
    if spec.uses is None and not how.learned:
        return NONE
    if inputs is None or params is None or not is_dataclass(params):
        return NONE
    if any(k is None for k in inputs.values()):
        return NONE
    ins = sorted(inputs.items())
    root = tokens.class_token(type(params))
    if spec.uses is None:
        body = repr(["learned", spec.identity, root, ins])
        return Decision(Mode.LEARNED, hashlib.md5(body.encode()).hexdigest())
    try:
        fields = [[p, path_digest(params, p, spec.name)] for p in spec.uses]
    except tokens.Unfaithful as exc:
        return Decision(Mode.NONE, why=str(exc))
    body = repr(["declared", spec.identity, root, fields, ins])
    return Decision(Mode.DECLARED, hashlib.md5(body.encode()).hexdigest())


# -- what a node that does not compute now contributes ---------------------------------------
def find(decision: Decision, spec: StageSpec, cache: str, params: Any) -> tuple[dict, str] | None:
    """The source this node would copy (and its class), if one is there."""
    if decision.mode is Mode.DECLARED:
        entry = reuse_store.find_entry(cache, decision.key, spec.identity)
        return None if entry is None else (entry, decision.key)
    if decision.mode is Mode.LEARNED:
        return learned.find(cache, decision.key, params, spec.name)
    return None


def cached_class(
    decision: Decision, spec: StageSpec, meta: Any, cache: str, params: Any
) -> str | None:
    """The class of a node whose outputs are in the cache: the decision's, but only when the
    current code identity wrote them (an output of older code is no output of this class)."""
    if decision.mode is Mode.NONE or not reuse_store.written_by(meta, spec.identity):
        return None
    if decision.mode is Mode.DECLARED:
        return decision.key
    return learned.own_class(decision.key, meta)


def depends_on(spec: StageSpec, meta: Any) -> list[str] | None:
    """The fields a cached node's outputs depend on (a stage called inside another charges
    its caller with them): the declaration, else what its metadata recorded."""
    if spec.uses is not None:
        return list(spec.uses)
    read = meta.get("params_read") if isinstance(meta, dict) else None
    fields = read.get("fields") if isinstance(read, dict) else None
    if not isinstance(fields, list) or EVERYTHING in fields or read.get("incomplete"):
        return None
    return [str(f) for f in fields]


def copied_reads(spec: StageSpec, source: dict) -> list[str] | None:
    """The fields a copy's outputs depend on: the declaration, or the source's learned set."""
    if spec.uses is not None:
        return list(spec.uses)
    fields = source.get("fields")
    return [str(f) for f in fields] if isinstance(fields, list) else None


# -- running ---------------------------------------------------------------------------------
def run(
    decision: Decision,
    spec: StageSpec,
    record: Any,
    cachers: list,
    compute: Callable[[dict], tuple[list[str], Any]],
    force: bool,
    cache: str,
) -> tuple[dict | None, str | None]:
    """Copy the class's source, or compute and become the source: ``compute(tags)`` returns
    what it published and its ``Reads``; ``tags`` go into its outputs' metadata (the class it
    computes for, or the base a learned class is made from), so that an entry counts only
    while its files are still that class's. A forced node (``--overwrite``) computes its own.
    Returns (the source copied, or None when this node computed; the node's class)."""
    if decision.mode is Mode.DECLARED:
        return _declared(decision.key, spec, record, cachers, compute, force, cache)
    found = None if force else learned.find(cache, decision.key, record.params, spec.name)
    if found is not None:
        entry, key = found
        reuse_store.copy_outputs(spec.name, record, cachers, entry, entry["fields"], cache, key)
        return entry, key
    published, reads = compute({reuse_store.BASE: decision.key})
    key = learned.record(cache, decision.key, reads, published, record, cachers, spec.identity)
    return None, key


def _declared(
    key: str,
    spec: StageSpec,
    record: Any,
    cachers: list,
    compute: Callable,
    force: bool,
    cache: str,
) -> tuple[dict | None, str]:
    """The first node of a class computes and becomes the source; the others, waiting on
    the class's lock, copy its files."""
    with reuse_store.class_lock(cache, key):
        source = None if force else reuse_store.find_entry(cache, key, spec.identity)
        if source is not None:
            reuse_store.copy_outputs(spec.name, record, cachers, source, spec.uses, cache, key)
            return source, key
        published, reads = compute({reuse_store.CLASS: key})
        entry = reuse_store.source_entry(cache, published, record, cachers, spec.identity)
        if reads is not None and reads.calls:  # a copy would leave the inner stage's files out
            reuse_store.not_plain(cache, key, f"it calls stage '{reads.calls[0]}' in its body")
        elif entry is not None:
            reuse_store.write_entry(cache, key, {**entry, "class": key})
        else:
            reuse_store.not_plain(cache, key, "its outputs are not one plain file each")
    return None, key
