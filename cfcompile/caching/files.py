"""Cachers that keep an output in one file: JSON, pickle, a list of file references, a path
the stage wrote itself (``PathRef``), and a Jupyter notebook. Re-exported from
``cfcompile.caching``, as curifactory's ``curifactory.caching`` has them.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

from cfcompile.caching.base import Cacheable
from cfcompile.caching.roundtrip import json_difference
from cfcompile.errors import CfcompileError


class CacheRoundTripError(CfcompileError):
    """A cacher would hand the next stage a different value than the stage returned.

    Raised inside the stage's save, so its transaction publishes none of the stage's files.
    """


class JsonCacher(Cacheable):
    """JSON, refusing any value that would not come back equal.

    curifactory writes what JSON cannot hold as its ``str`` (a set becomes ``"{'a'}"``, an int
    key becomes ``"1"``); the next job of a compiled run then reads a different value than an
    eager run keeps in memory, and computes something else without any error. Here such a save
    fails instead, naming the stage and the output, before anything is published.

    Tuples are the one accepted change: they come back as lists. curifactory does the same, so
    a curifactory experiment's downstream code already gets lists from every cached run, and
    every sequence operation (iteration, unpacking, indexing, ``len``) sees the same values.
    Refusing them would break unmodified experiments that JSON-cache shapes or pairs.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, extension=".json", **kwargs)

    def load(self) -> Any:
        with open(self.get_path()) as infile:
            return json.load(infile)

    def save(self, obj: Any) -> str:
        try:
            text = json.dumps(obj, indent=4, default=str)
        except (TypeError, ValueError) as exc:  # a tuple key, a circular reference
            raise CacheRoundTripError(self._refusal(f"JSON cannot encode it ({exc})")) from None
        difference = json_difference(obj, json.loads(text))
        if difference is not None:
            raise CacheRoundTripError(self._refusal(difference))
        path = self.get_path()
        with open(path, "w") as outfile:
            outfile.write(text)
        return path

    def _refusal(self, why: str) -> str:
        record = self.record
        if record is None or record.params is None:
            whose = "aggregate" if record is not None and record.is_aggregate else "no record"
        else:
            whose = f"parameter set '{record.params.name}'"
        where = (
            f"stage '{self.stage}' ({whose}), output '{self.name}'"
            if self.stage is not None
            else f"cacher for {self.final_path()}"
        )
        return (
            f"{where}: {type(self).__name__} cannot store this value exactly: {why}. JSON has no "
            "sets and no non-string keys, and JsonCacher writes other objects as their str(), "
            "so the next stage would read a different value. Nothing of this stage was saved. "
            "Cache this output with PickleCacher, or return JSON types (dicts with str keys, "
            "lists, str, int, float, bool, None)."
        )


class PickleCacher(Cacheable):
    """Any picklable object; the default for outputs declared without a cacher."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, extension=".pkl", **kwargs)

    def load(self) -> Any:
        with open(self.get_path(), "rb") as infile:
            return pickle.load(infile)

    def save(self, obj: Any) -> str:
        path = self.get_path()
        with open(path, "wb") as outfile:
            pickle.dump(obj, outfile)
        return path


class FileReferenceCacher(Cacheable):
    """Stores a path (or list of paths); the cache is only valid while those files exist."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, extension=".json", **kwargs)

    def check(self) -> bool:
        if not super().check():
            return False
        with open(self.final_path()) as infile:
            files = json.load(infile)
        files = files if isinstance(files, list) else [files]
        return all(os.path.exists(f) for f in files)

    def load(self) -> list[str] | str:
        with open(self.get_path()) as infile:
            return json.load(infile)

    def save(self, files: list[str] | str) -> str:
        path = self.get_path()
        with open(path, "w") as outfile:
            json.dump(files, outfile, indent=4)
        return path


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
