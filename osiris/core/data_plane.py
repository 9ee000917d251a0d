"""The data plane of a run: one DuckDB database shared by its steps.

Its memory is capped so a run's footprint does not grow with its row count: past the cap
DuckDB writes blocks to a private temporary folder (never in the project), removed when the
run ends. Since DuckDB 2.0 an in-memory database spills its tables there too (6M rows,
380 MB of CSV: peak RSS 207-216 MB in memory, 211-212 MB with a database file), and it
opens and closes ~20 ms faster than a file, which a small run feels.
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
    """A fresh DuckDB database with capped memory; closed and its folder gone afterwards."""
    import duckdb  # heavy: imported only when a run really executes

    with tempfile.TemporaryDirectory(prefix="osiris-duckdb-") as spill:
        connection = duckdb.connect(
            ":memory:", config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill}
        )
        try:
            yield connection
        finally:
            connection.close()
