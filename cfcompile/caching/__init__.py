"""Cachers: how stage outputs reach disk, with curifactory's file names and metadata.

``from cfcompile.caching import PickleCacher`` (or ``from curifactory.caching import ...``):
every cacher is re-exported here, as curifactory's ``curifactory.caching`` has them.
``base`` holds the protocol every cacher builds on, ``files`` the one-file cachers,
``pandas`` the DataFrame cachers (pandas is imported only when one saves or loads), and
``roundtrip`` the check that a JSON-cached value comes back equal.
"""

from cfcompile.caching.base import (
    METADATA_SUFFIX,
    TIMESTAMP_FORMAT,
    Cacheable,
    Lazy,
    instantiate,
)
from cfcompile.caching.files import (
    CacheRoundTripError,
    FileReferenceCacher,
    JsonCacher,
    PathRef,
    PickleCacher,
    RawJupyterNotebookCacher,
)
from cfcompile.caching.pandas import PandasCacher, PandasCsvCacher, PandasJsonCacher

__all__ = [
    "METADATA_SUFFIX",
    "TIMESTAMP_FORMAT",
    "Cacheable",
    "CacheRoundTripError",
    "FileReferenceCacher",
    "JsonCacher",
    "Lazy",
    "PandasCacher",
    "PandasCsvCacher",
    "PandasJsonCacher",
    "PathRef",
    "PickleCacher",
    "RawJupyterNotebookCacher",
    "instantiate",
]

# The public path is the classes' module: metadata (``cacher_type``) and pickles name
# ``cfcompile.caching.JsonCacher`` whichever file of this package defines it, as before the
# package was split (numpy does the same for its public names).
for _cls in (
    Cacheable,
    CacheRoundTripError,
    FileReferenceCacher,
    JsonCacher,
    Lazy,
    PandasCacher,
    PandasCsvCacher,
    PandasJsonCacher,
    PathRef,
    PickleCacher,
    RawJupyterNotebookCacher,
):
    _cls.__module__ = __name__
del _cls
