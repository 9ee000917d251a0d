"""The data plane: DuckDB's engine, loaded without its package's Python layer."""

from __future__ import annotations

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
