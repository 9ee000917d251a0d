"""The data plane of a run: one DuckDB database shared by its steps.

Its memory is capped so a run's footprint does not grow with its row count: past the cap
DuckDB writes blocks to a private temporary folder (never in the project), removed when the
run ends. Since DuckDB 2.0 an in-memory database spills its tables there too (6M rows,
380 MB of CSV: peak RSS 207-216 MB in memory, 211-212 MB with a database file), and it
opens and closes ~20 ms faster than a file, which a small run feels.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

# With Python, Arrow and one batch in flight this keeps a run near 250 MB (see
# benchmarks/bench_database.py).
MEMORY_LIMIT = "128MB"


def duckdb_engine() -> ModuleType:
    """DuckDB's engine: the C++ extension `_duckdb` that the `duckdb` package re-exports
    (its `connect`, connection class and exceptions are the same objects).

    Imported alone it takes about 20 ms; the package's Python layer (relational API,
    expression builders, scanning Python objects, version lookup through
    importlib.metadata) adds 40-90 ms that a run of SQL steps never uses, more than all of
    a small run's own work; a run that moves rows through Arrow loads it (`arrow_exchange`).
    Where the extension is not importable on its own (another packaging of DuckDB), the
    package is.
    """
    try:
        return importlib.import_module("_duckdb")
    except ImportError:
        return importlib.import_module("duckdb")


def arrow_exchange() -> None:
    """Ready DuckDB for Arrow data going in (`connection.register`) or coming out
    (`connection.sql(...).to_arrow_reader`): the `duckdb` package's Python layer sets up
    both, and the engine alone has neither. Drivers that move rows through Arrow call it
    before they do; loaded once, it costs nothing after."""
    importlib.import_module("duckdb")


@contextmanager
def data_plane() -> Iterator[Any]:
    """A fresh DuckDB database with capped memory; closed and its folder gone afterwards."""
    duckdb = duckdb_engine()  # heavy: imported only when a run really executes
    with tempfile.TemporaryDirectory(prefix="osiris-duckdb-") as spill:
        connection = duckdb.connect(
            ":memory:", config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill}
        )
        try:
            yield connection
        finally:
            connection.close()
