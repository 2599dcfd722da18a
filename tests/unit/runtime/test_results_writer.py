"""The results table's parquet is written without importing pandas, and reads back the same.

pyarrow imports pandas on its first conversion (0.19 s of a 0.42 s results job, measured);
``results.pandas_not_imported`` keeps it out. Run in a fresh interpreter each, because this
test process may have imported pandas already.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import pyarrow.parquet as pq
from cfcompile.runtime.results_writer import arrow_table

rows = [
    {"name": "a", "accuracy": 0.5, "seed": 1, "start": "2026-12-02T08:00:00+00:00", "x": None},
    {"name": "b", "accuracy": 0.75, "seed": 2, "start": None, "x": [1, 2]},
]
pq.write_table(arrow_table(rows), sys.argv[1])
imported_while_writing = "pandas" in sys.modules
table = pq.read_table(sys.argv[1])
frame = table.to_pandas()  # pandas still imports when really needed
print(json.dumps({
    "pandas_while_writing": imported_while_writing,
    "names": table.column("name").to_pylist(),
    "accuracy": table.column("accuracy").to_pylist(),
    "x": table.column("x").to_pylist(),
    "frame_rows": len(frame),
    "pandas_after": "pandas" in sys.modules,
}))
"""


def test_parquet_written_without_pandas_and_read_back_with_it(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "t.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    got = json.loads(out)
    assert got["pandas_while_writing"] is False
    assert got["pandas_after"] is True and got["frame_rows"] == 2
    assert got["names"] == ["a", "b"] and got["accuracy"] == [0.5, 0.75]
    assert got["x"] == [None, "[1, 2]"]  # a value pyarrow cannot type is kept as its text
