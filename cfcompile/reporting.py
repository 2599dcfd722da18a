"""Reportables: results a stage registers with ``record.report(...)`` for the HTML report.

The classes and their attributes are curifactory's (a reportable pickled by one tool renders in
the other). Only the standard library is imported here; matplotlib and pandas are touched only
when a reporter that needs them renders, so experiments without plots stay light and a job
never imports them for a report it does not draw.

A reportable is pickled when its stage finishes and rendered later, by ``cfcompile ...
--report``, in another process: ``render()`` writes into ``self.path`` and ``html()`` refers to
those files by name (the report inlines them). A reporter that needs a file that may be gone by
then (``ImageReporter``) copies it into the cache with the stage's other files
(``files_to_cache``).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import shutil
from typing import Any


class Reportable:
    """Base class: ``html()`` returns the fragment; ``render()`` writes any files it needs."""

    def __init__(self, name: str | None = None, group: str | None = None):
        self.rendered = False
        self.path: str = ""  # folder render() writes into (set by the report writer)
        self.name = name
        self.qualified_name: str | None = name  # set by record.report()
        self.group = group
        self.record = None
        self.stage: str | None = ""

    def html(self) -> str | list[str]:
        return ""

    def render(self) -> None:
        pass

    def files_to_cache(self) -> dict[str, str]:
        """``{cache file name: source path}`` to copy into the cache when the stage saves."""
        return {}

    def cached_files(self, paths: dict[str, str]) -> None:
        """Where ``files_to_cache`` were published (``{cache file name: path}``)."""


class HTMLReporter(Reportable):
    """Raw HTML, inserted as is: the stage author owns its content."""

    def __init__(
        self, html_string: str | list[str], name: str | None = None, group: str | None = None
    ):
        super().__init__(name=name, group=group)
        self.html_string = html_string

    def html(self) -> str | list[str]:
        # ``data``: what cfcompile 0.1 pickled it as
        return self.__dict__.get("html_string", self.__dict__.get("data", ""))


class JsonReporter(Reportable):
    """A dict (anything JSON can show) as indented JSON."""

    def __init__(self, dictionary: Any, name: str | None = None, group: str | None = None):
        super().__init__(name=name, group=group)
        self.data = dictionary

    def html(self) -> list[str]:
        text = json.dumps(self.data, indent=4, default=str)
        return ["<pre>", html.escape(text), "</pre>"]


class DFReporter(Reportable):
    """A pandas DataFrame as an HTML table, floats rounded to ``float_prec`` digits."""

    def __init__(
        self, df: Any, name: str | None = None, group: str | None = None, float_prec: int = 4
    ):
        super().__init__(name=name, group=group)
        self.df = df
        self.float_prec = float_prec

    def html(self) -> list[str]:
        out = ["<table border='1' cellspacing='0'><tr><th></th>"]
        out += [f"<th>{html.escape(str(col))}</th>" for col in self.df.columns]
        out.append("</tr>")
        prec = getattr(self, "float_prec", 4)
        for index, row in self.df.iterrows():
            out += ["<tr>", f"<th>{html.escape(str(index))}</th>"]
            for item in row:
                is_float = (
                    isinstance(item, float)
                    or getattr(getattr(item, "dtype", None), "kind", "") == "f"
                )
                text = f"{item:.{prec}f}" if is_float else html.escape(str(item))
                out.append(f"<td align='right'><pre>{text}</pre></td>")
            out.append("</tr>")
        out.append("</table>")
        return out


class LatexTableReporter(Reportable):
    """A DataFrame as LaTeX source, to copy into a paper (``kwargs`` go to ``Styler.to_latex``).

    pandas' Styler needs jinja2; it is used only when the report renders, never in a job.
    """

    def __init__(self, df: Any, name: str | None = None, group: str | None = None, **kwargs: Any):
        super().__init__(name=name, group=group)
        self.df = df
        self.kwargs = kwargs

    def html(self) -> list[str]:
        return ["<pre>", html.escape(self.df.style.to_latex(**self.kwargs)), "</pre>"]


class FigureReporter(Reportable):
    """A matplotlib figure, saved on render (``kwargs`` go to ``savefig``; PNG by default)."""

    def __init__(self, fig: Any, name: str | None = None, group: str | None = None, **kwargs: Any):
        super().__init__(name=name, group=group)
        self.fig = fig
        self.kwargs = kwargs

    def filename(self) -> str:
        stem = self.qualified_name or safe_file_name(self.name or "figure")
        return f"{stem}.{self.kwargs.get('format', 'png')}"

    def render(self) -> None:
        self.kwargs.setdefault("format", "png")
        self.fig.savefig(os.path.join(self.path, self.filename()), **self.kwargs)

    def html(self) -> str:
        src = html.escape(self.filename(), quote=True)
        return f"<img src='{src}'>"


class ImageReporter(Reportable):
    """An image file shown in the report.

    The image is copied into the cache when the stage saves (``..._{stage}_{qualified name}
    {ext}``), so the report still shows it after the original is deleted or overwritten, and
    a cached rerun of the stage finds it. curifactory makes the same copy when its report
    renders, named after whichever stage ran last.
    """

    def __init__(self, image_path: str, name: str | None = None, group: str | None = None):
        super().__init__(name=name, group=group)
        self.image_path = image_path
        self.copied = False
        self.cache_path: str | None = None

    def _extension(self) -> str:
        return os.path.splitext(self.image_path)[1]

    def _filename(self) -> str:
        return f"{self.qualified_name or self.name or 'image'}{self._extension()}"

    def files_to_cache(self) -> dict[str, str]:
        return {} if self.copied else {self._filename(): self.image_path}

    def cached_files(self, paths: dict[str, str]) -> None:
        if self._filename() in paths:
            self.cache_path = paths[self._filename()]
            self.copied = True

    def render(self) -> None:
        source = self.cache_path if self.copied and self.cache_path else self.image_path
        shutil.copyfile(source, os.path.join(self.path, self._filename()))

    def html(self) -> str:
        return f"<img src='{html.escape(self._filename(), quote=True)}'>"


class LinePlotReporter(Reportable):
    """Line plots of ``y`` (a sequence, or a dict of them: one line per key, in the legend),
    against ``x`` when given (shaped like ``y``); matplotlib is imported on render only."""

    def __init__(
        self,
        y: Any,
        x: Any = None,
        name: str | None = None,
        group: str | None = None,
        plot_kwargs: dict | None = None,
        savefig_kwargs: dict | None = None,
    ):
        super().__init__(name=name, group=group)
        self.y = y
        self.x = x
        self.plot_kwargs = dict(plot_kwargs or {})
        self.savefig_kwargs = dict(savefig_kwargs or {})

    def _filename(self) -> str:
        stem = self.qualified_name or self.name or "line_plot"
        return f"{stem}.{self.savefig_kwargs.get('format', 'png')}"

    def render(self) -> None:
        import matplotlib.pyplot as plt

        plt.figure(facecolor="white")
        if isinstance(self.y, dict):
            for key in self.y:
                args = (self.y[key],) if self.x is None else (self.x[key], self.y[key])
                plt.plot(*args, label=key, **self.plot_kwargs)
            plt.legend()
        else:
            args = (self.y,) if self.x is None else (self.x, self.y)
            plt.plot(*args, **self.plot_kwargs)
        plt.grid(True)
        self.savefig_kwargs.setdefault("format", "png")
        plt.gcf().savefig(os.path.join(self.path, self._filename()), **self.savefig_kwargs)
        plt.close()

    def html(self) -> str:
        return f"<img src='{html.escape(self._filename(), quote=True)}'>"


__all__ = [
    "DFReporter",
    "FigureReporter",
    "HTMLReporter",
    "ImageReporter",
    "JsonReporter",
    "LatexTableReporter",
    "LinePlotReporter",
    "Reportable",
]


# -- names and pages ------------------------------------------------------------------------
_UNSAFE_IN_FILE_NAMES = re.compile(r"[/\\\x00]")
_MAX_NAME_BYTES = 200  # a file name may hold 255 bytes; leave room for ".pkl" and suffixes


def safe_file_name(text: str) -> str:
    """``text`` made usable as one file name inside its folder.

    Reportable file names are built from parameter-set names, which are free text: a ``/``
    would make a subfolder that does not exist (the save fails after the stage already ran),
    ``..`` segments would climb out of the cache. Separators and NUL become ``_``, so do
    leading dots (no hidden files, no ``..``), and over-long names are shortened with a digest
    so two of them stay apart. Ordinary names are returned unchanged, as curifactory writes them.
    """
    name = _UNSAFE_IN_FILE_NAMES.sub("_", text)
    body = name.lstrip(".")
    name = "_" * (len(name) - len(body)) + body
    if len(name.encode()) > _MAX_NAME_BYTES:
        digest = hashlib.md5(text.encode()).hexdigest()[:12]
        head = name.encode()[: _MAX_NAME_BYTES - 13].decode(errors="ignore")
        name = f"{head}_{digest}"
    return name


def write_run_report(manager: Any) -> str:
    """``reports_path/REFERENCE/index.html``: the run's reportables on one page, each rendered
    into that folder (figures as files beside the page). Returns the folder."""
    folder = os.path.join(manager.reports_path, manager.get_reference_name())
    os.makedirs(folder, exist_ok=True)
    title = html.escape(f"{manager.experiment_name} ({manager.get_reference_name()})")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"]
    parts.append(f"</head><body><h1>{title}</h1><p>status: {html.escape(manager.status)}</p>")
    for rep in manager.reportables:
        rep.path = folder
        rep.render()
        body = rep.html()
        name = html.escape(str(rep.qualified_name or rep.name))
        parts.append(f"<h2>{name}</h2>" + ("\n".join(body) if isinstance(body, list) else body))
    parts.append("</body></html>")
    with open(os.path.join(folder, "index.html"), "w") as f:
        f.write("\n".join(parts))
    logging.getLogger("cfcompile").info("report written to %s", folder)
    return folder
