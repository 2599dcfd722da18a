"""curifactory's remaining cachers: ``PathRef`` and ``RawJupyterNotebookCacher``.

Both are re-exported from ``cfcompile.caching`` (so ``from curifactory.caching import PathRef``
works); they live here to keep that module small.
"""

from __future__ import annotations

import json
from typing import Any

from cfcompile.caching import Cacheable, JsonCacher


class PathRef(Cacheable):
    """A cacher that stores nothing: its own path *is* the artifact, written by the stage.

    The stage writes the file at ``record.stage_cachers[i].get_path()`` (or
    ``record.get_path(name)``) and returns that path; ``load`` returns the path again. The
    stage is skipped, as for any cacher, when the file exists.

    A stage's saves go into a staging folder (docs/semantics.md), but the stage wrote this file
    in place itself, so ``save`` only checks the returned path against the published one
    (``final_path``; curifactory compares with ``get_path``, the same place) and stages
    nothing. The metadata is written beside it as for every output.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)

    def save(self, obj: str) -> str:
        internal_path = self.final_path()
        if internal_path not in self.cache_paths:
            self.cache_paths.append(internal_path)
        assert internal_path == obj, (
            f"Stage returned unexpected path to PathRef cacher for artifact '{self.name}':\n"
            f"\tExpected: '{internal_path}'\n\tReturned: '{obj}'"
        )
        return internal_path

    def load(self) -> str:
        return self.get_path()


class RawJupyterNotebookCacher(Cacheable):
    """A list of code cells (each a list of lines) written as a Jupyter notebook.

    The notebook is made by ``ipynb-py-convert``'s own converter, as curifactory does, so both
    tools write the same file; the cells are kept beside it in ``..._cells.json``, which is
    what ``load`` returns. Needs ``pip install ipynb-py-convert`` (a dependency of curifactory).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, extension=".ipynb", **kwargs)

    def load(self) -> list[list[str]]:
        return JsonCacher(self.get_path("_cells.json")).load()

    def save(self, obj: list[list[str]]) -> None:
        try:
            from ipynb_py_convert import py2nb
        except ImportError as exc:
            raise ImportError(
                f"{type(self).__name__} needs the ipynb-py-convert package, as curifactory's "
                "does: pip install ipynb-py-convert"
            ) from exc
        cell_text = "\n\n# %%\n".join(["\n".join(inner_cell) for inner_cell in obj])
        # what `ipynb-py-convert script.py notebook.ipynb` writes, without the script file
        with open(self.get_path(), "w", encoding="utf-8") as outfile:
            json.dump(py2nb(cell_text), outfile, indent=2)
        JsonCacher(self.get_path("_cells.json")).save(obj)
