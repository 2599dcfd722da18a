"""Reportables: results a stage registers with ``record.report(...)`` for the HTML report.

Only the standard library is imported here; matplotlib and pandas are touched only when a
reporter that needs them renders, so experiments without plots stay light.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any


class Reportable:
    """Base class: ``html()`` returns the fragment; ``render()`` writes any files it needs."""

    def __init__(self, name: str | None = None, group: str | None = None):
        self.name = name
        self.group = group
        self.record = None
        self.stage: str | None = None
        self.qualified_name: str | None = None
        self.path: str = ""  # folder render() writes into (set by the report writer)

    def html(self) -> str | list[str]:
        return ""

    def render(self) -> None:
        pass


class HTMLReporter(Reportable):
    """Raw HTML, inserted as is: the stage author owns its content."""

    def __init__(self, html_string: str, name: str | None = None, group: str | None = None):
        super().__init__(name=name, group=group)
        self.data = html_string

    def html(self) -> str:
        return self.data


class JsonReporter(Reportable):
    """A dict shown as indented JSON."""

    def __init__(self, dictionary: Any, name: str | None = None, group: str | None = None):
        super().__init__(name=name, group=group)
        self.data = dictionary

    def html(self) -> list[str]:
        text = json.dumps(self.data, indent=4, default=str)
        return ["<pre>", html.escape(text), "</pre>"]


class DFReporter(Reportable):
    """A pandas DataFrame as an HTML table."""

    def __init__(self, df: Any, name: str | None = None, group: str | None = None):
        super().__init__(name=name, group=group)
        self.df = df

    def html(self) -> str:
        return self.df.to_html()


class FigureReporter(Reportable):
    """A matplotlib figure saved as PNG on render (matplotlib needed only then)."""

    def __init__(self, fig: Any, name: str | None = None, group: str | None = None, **kwargs: Any):
        super().__init__(name=name, group=group)
        self.fig = fig
        self.kwargs = kwargs

    def filename(self) -> str:
        from cfcompile.record import safe_file_name  # record imports this module

        return f"{self.qualified_name or safe_file_name(self.name or 'figure')}.png"

    def render(self) -> None:
        self.fig.savefig(os.path.join(self.path, self.filename()), **self.kwargs)

    def html(self) -> str:
        src = html.escape(self.filename(), quote=True)
        return f"<img src='{src}'>"
