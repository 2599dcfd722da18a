"""Cachers for pandas DataFrames (curifactory's PandasCacher family).

pandas is imported inside save/load only, so experiments that never use these pay nothing.
"""

from __future__ import annotations

from typing import Any

from cfcompile.caching.base import Cacheable

PANDAS_FORMATS = {  # format: (extension, reader, writer), curifactory's _PandasIOType table
    "csv": ("csv", "read_csv", "to_csv"),
    "json": ("json", "read_json", "to_json"),
    "parquet": ("parquet", "read_parquet", "to_parquet"),
    "pickle": ("pkl", "read_pickle", "to_pickle"),
    "orc": ("orc", "read_orc", "to_orc"),
    "hdf5": ("h5", "read_hdf", "to_hdf"),
    "excel": ("xlsx", "read_excel", "to_excel"),
    "xml": ("xml", "read_xml", "to_xml"),
}

_DEFAULT_TO_ARGS = {
    "json": {"double_precision": 15},
    "hdf5": {"key": "df"},
    "xml": {"index": False},
}
_DEFAULT_READ_ARGS = {"csv": {"index_col": 0}, "excel": {"index_col": 0}}


class PandasCacher(Cacheable):
    """DataFrames through pandas' own readers and writers; pandas is imported only here.

    Formats, extensions and default arguments are curifactory's: orc and parquet need pyarrow,
    hdf5 needs PyTables, excel openpyxl, xml lxml (or ``parser="etree"`` in both arguments).
    """

    def __init__(
        self,
        path_override: str | None = None,
        format: str = "pickle",
        to_args: dict | None = None,
        read_args: dict | None = None,
        **kwargs: Any,
    ):
        if format not in PANDAS_FORMATS:
            raise ValueError(f"PandasCacher format must be one of {sorted(PANDAS_FORMATS)}")
        self.format = format
        default_to = _DEFAULT_TO_ARGS.get(format, {})
        default_read = _DEFAULT_READ_ARGS.get(format, {})
        self.to_args = dict(to_args) if to_args is not None else dict(default_to)
        self.read_args = dict(read_args) if read_args is not None else dict(default_read)
        ext = PANDAS_FORMATS[format][0]
        super().__init__(path_override=path_override, extension=f".{ext}", **kwargs)

    def load(self) -> Any:
        import pandas as pd

        reader = getattr(pd, PANDAS_FORMATS[self.format][1])
        path = self.get_path()
        if self.format == "json":
            from io import StringIO

            with open(path) as infile:
                return reader(StringIO(infile.read()), **self.read_args)
        return reader(path, **self.read_args)

    def save(self, obj: Any) -> str:
        import pandas as pd

        self.extra_metadata.update(
            pandas_version=pd.__version__,
            to_args=self.to_args,
            read_args=self.read_args,
            format=self.format,
        )
        path = self.get_path()
        getattr(obj, PANDAS_FORMATS[self.format][2])(path, **self.to_args)
        return path


class PandasJsonCacher(PandasCacher):
    def __init__(
        self,
        path_override: str | None = None,
        to_json_args: dict | None = None,
        read_json_args: dict | None = None,
        **kwargs: Any,
    ):
        to_args = {"double_precision": 15} if to_json_args is None else to_json_args
        super().__init__(path_override, "json", to_args, read_json_args or {}, **kwargs)


class PandasCsvCacher(PandasCacher):
    def __init__(
        self,
        path_override: str | None = None,
        to_csv_args: dict | None = None,
        read_csv_args: dict | None = None,
        **kwargs: Any,
    ):
        read_args = {"index_col": 0} if read_csv_args is None else read_csv_args
        super().__init__(path_override, "csv", to_csv_args or {}, read_args, **kwargs)
