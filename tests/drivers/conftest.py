from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory DuckDB, the runner's data plane."""
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()
