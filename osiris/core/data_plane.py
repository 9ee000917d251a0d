"""The data plane of a run: one DuckDB database shared by its steps.

Its memory is capped so a run's footprint does not grow with its row count. The database
is a file in a private temporary folder (never in the project), removed when the run
ends: an in-memory database kept every table's blocks in memory past the cap (peak RSS
grew from 249 MB at 1M rows to 317 MB at 3M), a file lets DuckDB write them out.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# With Python, Arrow and one batch in flight this keeps a run near 250 MB (see
# benchmarks/bench_database.py).
MEMORY_LIMIT = "128MB"


@contextmanager
def data_plane() -> Iterator[Any]:
    """A fresh DuckDB database with capped memory; closed and its folder gone afterwards."""
    import duckdb  # heavy: imported only when a run really executes

    with tempfile.TemporaryDirectory(prefix="osiris-duckdb-") as spill:
        connection = duckdb.connect(
            os.path.join(spill, "run.duckdb"),
            config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill},
        )
        try:
            yield connection
        finally:
            connection.close()
