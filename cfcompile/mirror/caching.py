"""``curifactory.caching``: cfcompile's cachers, plus the private names curifactory's own tests
import from that module (``_PandasIOType``).

Everything public is cfcompile's (``cfcompile.caching``); only the mirror of a curifactory
private lives here, so cfcompile's cachers never depend on it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import cfcompile.caching as _caching
from cfcompile.caching import *  # noqa: F403 - curifactory.caching is cfcompile.caching plus the below
from cfcompile.caching.pandas import PANDAS_FORMATS


class _PandasIOType(Enum):
    """curifactory's PandasCacher formats: the member name is the ``format=`` value, the
    member value the file extension (``_PandasIOType["pickle"].value == "pkl"``)."""

    csv = PANDAS_FORMATS["csv"][0]
    json = PANDAS_FORMATS["json"][0]
    parquet = PANDAS_FORMATS["parquet"][0]
    pickle = PANDAS_FORMATS["pickle"][0]
    orc = PANDAS_FORMATS["orc"][0]
    hdf5 = PANDAS_FORMATS["hdf5"][0]
    excel = PANDAS_FORMATS["excel"][0]
    xml = PANDAS_FORMATS["xml"][0]


def __getattr__(name: str) -> Any:
    """Anything else of cfcompile.caching (its private names included) under this name too."""
    return getattr(_caching, name)
