"""How cfcompile looks at a researcher's values: which ones are numbers, and how a big one is
shown.

One rule each, used wherever a value decides a column, a plot, a statistic or a scheduler
request (``True`` is an ``int`` to Python, but a boolean parameter is a category, a boolean
metric is no score to average, and ``mem_mb=True`` is no memory request), and wherever a
value is written for people: a parameter holding 4,000,000 numbers has a 48 MB repr, which
no message, metadata file, dry-run line or results cell should carry whole.
"""

from __future__ import annotations

import hashlib
import reprlib
from typing import Any

SHORT = 400
"""Characters of a value's text shown whole; past it, the short form (``short_text``)."""


def is_number(value: Any) -> bool:
    """An int or a float (numpy's scalars subclass them), never a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def all_numbers(values: list[Any]) -> bool:
    """Some values, and every one that is not None a number."""
    present = [v for v in values if v is not None]
    return bool(present) and all(is_number(v) for v in present)


def printable(text: str) -> str:
    """Control characters (a name's escape sequences, line breaks) shown as ``?``: text that
    goes to a terminal stays one line and cannot take the terminal over."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def short_text(text: str, limit: int = SHORT) -> str:
    """``text`` itself, or past ``limit``: its beginning, its length and a digest of all of it
    (two different long values stay different, so a changed one still shows as changed)."""
    if len(text) <= limit:
        return text
    digest = hashlib.md5(text.encode(errors="replace")).hexdigest()[:12]
    tail = f"... ({len(text):,} characters, md5 {digest})"
    return text[: max(0, limit - len(tail))] + tail


def shown(value: Any, limit: int = SHORT) -> Any:
    """A value as a results table or report cell shows it: numbers, strings (up to ``limit``),
    booleans and None as they are; anything else as its (short) repr."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return short_text(text, limit)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 20
_REPR.maxdict = 10
_REPR.maxstring = _REPR.maxother = 160


def preview(value: Any, limit: int = 200) -> str:
    """One line about a value for a message or an output's metadata, cheap whatever its size:
    built-in containers are abbreviated without writing their whole repr (reprlib), and
    anything longer than ``limit`` says its type and length."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a preview must never fail a save or a message
        return f"<{type(value).__name__}>"
    size = f", len {len(value):,}" if isinstance(value, list | tuple | dict | set | str) else ""
    if len(text) <= limit and not (size and "..." in text):
        return text
    head = f"<{type(value).__name__}{size}> "
    if len(head) + len(text) <= limit:
        return head + text
    return head + text[: max(0, limit - len(head) - 3)] + "..."
