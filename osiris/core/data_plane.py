"""The data plane of a run: one in-memory DuckDB database shared by its steps.

Its memory is capped so a run's footprint does not grow with its row count: past the
cap DuckDB spills to a private temporary folder (never into the project), which is
removed when the run ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# With Python, Arrow and one batch in flight this keeps a run near 250 MB (see
# benchmarks/bench_database.py).
MEMORY_LIMIT = "128MB"


@contextmanager
def data_plane() -> Iterator[Any]:
    """A fresh DuckDB connection with capped memory; closed and its spill folder gone
    afterwards."""
    import duckdb  # heavy: imported only when a run really executes

    with tempfile.TemporaryDirectory(prefix="osiris-duckdb-") as spill:
        connection = duckdb.connect(
            ":memory:", config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill}
        )
        try:
            yield connection
        finally:
            connection.close()
