"""The data plane: DuckDB's engine, loaded without its package's Python layer."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from osiris.core.data_plane import data_plane, duckdb_engine


def test_the_engine_is_the_one_the_duckdb_package_exports() -> None:
    # The package re-exports its C++ extension: the same connect, connection class and
    # exceptions, so a run and a driver catching `duckdb.Error` see one set of objects.
    engine = duckdb_engine()
    assert engine.__name__ == "_duckdb"
    assert engine.connect is duckdb.connect
    assert engine.DuckDBPyConnection is duckdb.DuckDBPyConnection
    assert engine.ConversionException is duckdb.ConversionException


def test_without_a_separate_extension_the_package_is_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "_duckdb", None)  # import _duckdb raises ImportError
    assert duckdb_engine() is duckdb


def test_a_data_plane_is_a_working_database_with_capped_memory() -> None:
    with data_plane() as connection:
        assert connection.execute("SELECT current_setting('memory_limit')").fetchone() == (
            "122.0 MiB",
        )
        assert connection.execute("SELECT 40 + 2").fetchone() == (42,)


ARROW_BOTH_WAYS = """\
import subprocess
import sys
import pyarrow as pa
from osiris.core.data_plane import data_plane
from osiris.drivers.duck_load import Column, TableLoader, record_batches
from osiris.drivers.http_source import RecordLoader
print("duckdb" in sys.modules)
with data_plane() as connection:
    TableLoader(connection, "t", [Column("a", "BIGINT")]).append(pa.table({"a": [1, 2, 3]}))
    RecordLoader(connection, "r").append([{"b": "x"}, {"b": "y"}])
    out = record_batches(connection, "SELECT a FROM t ORDER BY a", 2)
    print([row["a"] for batch in out for row in batch.to_pylist()])
    print(connection.execute("SELECT b FROM r ORDER BY b").fetchall())
"""


def test_rows_go_through_arrow_both_ways_in_a_process_of_their_own() -> None:
    # The engine alone neither scans Arrow data nor has `connection.sql`: the drivers that
    # move rows through Arrow load the package's Python layer first. In a fresh process,
    # since pytest's own has long imported the duckdb package.
    done = subprocess.run(
        [sys.executable, "-c", ARROW_BOTH_WAYS], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == ["False", "[1, 2, 3]", "[('x',), ('y',)]"]
