"""A stage's reportables in the cache: pickled beside its outputs, listed as curifactory lists
them, and reported again when the stage is skipped because it is cached.

``{cache}/{prefix}_{hash}_{stage}_reportables/{qualified name}.pkl`` plus
``..._{stage}_reportables_file_list.json`` (and its metadata), published in the stage's
transaction with its outputs.
"""

from __future__ import annotations

import os
import pickle
import shutil
from typing import Any

from cfcompile.caching import Cacheable, FileReferenceCacher
from cfcompile.core.transaction import Transaction
from cfcompile.stages import StageSpec

REPORTABLES = "reportables"
REPORTABLES_LIST = "reportables_file_list"


def save_reportables(record: Any, spec: StageSpec, reportables: list, txn: Transaction) -> None:
    """Pickle the stage's reportables and list them, as curifactory does, in the transaction.

    The listing names each pickle by a path relative to the working directory when the cache is
    inside it (``data/cache/..._reportables/NAME.pkl``, what curifactory writes), else by its
    absolute path; readers find the pickles beside the listing whatever it says
    (``listed_reportables``). A reporter's ``files_to_cache`` are copied into the cache too.
    """
    folder = txn.stage_path(record.get_path(REPORTABLES, stage_name=spec.name))
    os.makedirs(folder, exist_ok=True)
    final_folder = record.get_path(REPORTABLES, stage_name=spec.name)
    paths = []
    for rep in reportables:
        clone = rep.__class__.__new__(rep.__class__)
        clone.__dict__.update(rep.__dict__)
        clone.record = None
        copies = {}
        for file_name, source in (getattr(rep, "files_to_cache", dict)() or {}).items():
            target = record.get_path(file_name, stage_name=spec.name)
            shutil.copyfile(source, txn.stage_path(target))
            copies[file_name] = target
        if copies:
            clone.cached_files(copies)
        name = f"{rep.qualified_name}.pkl"
        with open(os.path.join(folder, name), "wb") as outfile:
            pickle.dump(clone, outfile)
        paths.append(_as_listed(os.path.join(final_folder, name)))
    listing = _listing(record, spec)
    listing.transaction = txn
    listing.save(paths)
    listing.collect_metadata()["extra"]["reportables"] = True
    listing.save_metadata()


def _as_listed(path: str) -> str:
    """``path`` relative to the working directory when inside it (curifactory's relative cache
    path gives the same string), else absolute."""
    cwd = os.getcwd()
    absolute = os.path.abspath(path)
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return absolute


def _listing(record: Any, spec: StageSpec) -> FileReferenceCacher:
    listing = FileReferenceCacher(name=REPORTABLES_LIST)
    listing.set_record(record)
    listing.stage = spec.name
    return listing


def listed_reportables(listing_path: str, listed: list[str]) -> list[str]:
    """Where the pickles named in a reportables listing are.

    They sit in the ``..._reportables`` folder beside the listing, whichever working directory
    wrote the (possibly relative) names and whichever reads them; a name found nowhere there
    is returned as written (a listing from somewhere else, say).
    """
    cache = os.path.dirname(os.path.abspath(listing_path))
    out = []
    for path in listed:
        folder = os.path.basename(os.path.dirname(path))
        beside = os.path.join(cache, folder, os.path.basename(path))
        out.append(beside if os.path.exists(beside) else path)
    return out


def load_cached_reportables(record: Any, spec: StageSpec) -> None:
    """Report the reportables a cached stage registered when it ran (curifactory does too)."""
    listing = _listing(record, spec)
    # the listing's own check (exists, metadata, overwrite), not FileReferenceCacher's test of
    # each listed name: those may be relative to another working directory
    if not Cacheable.check(listing):
        return
    paths = listed_reportables(listing.final_path(), listing.load())
    if not all(os.path.exists(path) for path in paths):
        return  # as curifactory: a listing with a missing file is not a cache hit
    for path in paths:
        with open(path, "rb") as infile:
            record.report(pickle.load(infile))
