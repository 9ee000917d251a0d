"""supabase.extractor and supabase.writer.

A step with PostgreSQL settings runs through the postgres drivers: tested against the
real local server, each test in a schema of its own. The REST API path needs a Supabase
project: its contract test runs only when SUPABASE_URL and SUPABASE_KEY are set.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from osiris.drivers.base import StepResult
from tests.helpers.databases import PostgresSchema
from tests.helpers.steps import run_step as run


def write(
    schema: PostgresSchema, con: duckdb.DuckDBPyConnection, base: Path, **config: Any
) -> StepResult:
    """supabase.writer from `df_src` into `items` of the test's schema."""
    config = {**schema.settings, "table": "items", **config}
    return run("supabase.writer", config, con, base, "sink", ("src",))


def pg(schema: PostgresSchema, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(schema.dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema.name}"')
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def items(schema: PostgresSchema) -> list[tuple[Any, ...]]:
    return pg(schema, "SELECT id, name, qty FROM items ORDER BY id")


@pytest.fixture
def with_items(postgres_schema: PostgresSchema) -> PostgresSchema:
    pg(postgres_schema, "CREATE TABLE items (id integer PRIMARY KEY, name text, qty integer)")
    pg(postgres_schema, "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)")
    return postgres_schema


# --- over PostgreSQL --------------------------------------------------------------------


@pytest.mark.parametrize("via", ["host", "pg_dsn"])
def test_extractor_reads_a_table_over_postgres(
    postgres_schema: PostgresSchema,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    via: str,
) -> None:
    pg(
        postgres_schema,
        "CREATE TABLE orders (id integer PRIMARY KEY, customer text, amount numeric(10, 2), "
        "paid boolean, placed date, created timestamptz)",
    )
    pg(
        postgres_schema,
        "INSERT INTO orders VALUES (1, 'Ann', 12.50, true, '2024-01-02', "
        "'2024-01-02 10:00:00+00'), (2, 'Bob', NULL, false, NULL, NULL)",
    )
    if via == "host":
        config = {**postgres_schema.settings, "table": "orders"}
    else:
        config = {"pg_dsn": postgres_schema.dsn, "schema": postgres_schema.name, "table": "orders"}
    result = run("supabase.extractor", config, con, tmp_path, "src")
    assert (result.rows_in, result.rows_out, result.table) == (2, 2, "df_src")
    types = [(name, kind) for name, kind, *_ in con.execute("DESCRIBE df_src").fetchall()]
    assert types == [
        ("id", "INTEGER"),
        ("customer", "VARCHAR"),
        ("amount", "DECIMAL(10,2)"),
        ("paid", "BOOLEAN"),
        ("placed", "DATE"),
        ("created", "TIMESTAMP WITH TIME ZONE"),
    ]
    rows = con.execute(
        "SELECT id, customer, amount, paid, CAST(placed AS VARCHAR), epoch(created) "
        "FROM df_src ORDER BY id"
    ).fetchall()
    assert rows == [
        (1, "Ann", Decimal("12.50"), True, "2024-01-02", 1704189600.0),
        (2, "Bob", None, False, None, None),
    ]


def test_extractor_select_list_and_limit_over_postgres(
    with_items: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config = {**with_items.settings, "table": "items", "select": "id, name", "limit": 2}
    assert run("supabase.extractor", config, con, tmp_path, "src").rows_out == 2
    assert con.execute("SELECT * FROM df_src ORDER BY id").fetchall() == [(1, "a"), (2, "b")]


def test_extractor_refuses_rest_filters_over_postgres(
    with_items: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    config = {**with_items.settings, "table": "items", "filter": {"id": 1}}
    with pytest.raises(ValueError, match=r"filter and order are REST API options.*write a query"):
        run("supabase.extractor", config, con, tmp_path, "src")


def test_writer_append(
    with_items: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    con.execute(
        "CREATE TABLE df_src AS SELECT * FROM (VALUES (4, 'd', 4), (5, 'e', 5)) t(id, name, qty)"
    )
    result = write(with_items, con, tmp_path, write_mode="append")
    assert (result.rows_in, result.rows_out) == (2, 2)
    assert items(with_items) == [(1, "a", 1), (2, "b", 2), (3, "c", 3), (4, "d", 4), (5, "e", 5)]


def test_writer_replace_leaves_exactly_the_incoming_rows(
    with_items: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    con.execute(
        "CREATE TABLE df_src AS SELECT * FROM (VALUES (2, 'B', 20), (9, 'z', 9)) t(id, name, qty)"
    )
    result = write(with_items, con, tmp_path, write_mode="replace", primary_key=["id"])
    assert result.rows_out == 2
    assert items(with_items) == [(2, "B", 20), (9, "z", 9)]


def test_writer_upsert_updates_and_inserts(
    with_items: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    con.execute(
        "CREATE TABLE df_src AS SELECT * FROM (VALUES (2, 'B', 20), (4, 'd', 4)) t(id, name, qty)"
    )
    result = write(with_items, con, tmp_path, write_mode="upsert", primary_key="id")
    assert result.rows_out == 2
    assert items(with_items) == [(1, "a", 1), (2, "B", 20), (3, "c", 3), (4, "d", 4)]


def test_writer_create_if_missing_creates_the_table(
    postgres_schema: PostgresSchema,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    con.execute(
        "CREATE TABLE df_src AS SELECT 1 AS id, 'a' AS name, "
        "CAST(2.50 AS DECIMAL(10, 2)) AS price, DATE '2024-05-06' AS day"
    )
    with pytest.raises(ValueError, match="table items does not exist"):
        write(postgres_schema, con, tmp_path)
    assert pg(postgres_schema, "SELECT to_regclass('items')") == [(None,)]

    result = write(postgres_schema, con, tmp_path, create_if_missing=True, primary_key=["id"])
    assert result.rows_out == 1
    columns = pg(
        postgres_schema,
        "SELECT column_name, data_type, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'items' ORDER BY ordinal_position",
    )
    assert columns == [
        ("id", "integer", 32, 0),
        ("name", "text", None, None),
        ("price", "numeric", 10, 2),
        ("day", "date", None, None),
    ]
    key = pg(
        postgres_schema,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'items'::regclass AND i.indisprimary",
    )
    assert key == [("id",)]
    assert pg(postgres_schema, "SELECT name, price, day::text FROM items") == [
        ("a", Decimal("2.50"), "2024-05-06")
    ]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_failed_write_leaves_the_table_unchanged(
    with_items: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path, mode: str
) -> None:
    # The second row's qty is text where the table has an integer: the whole write,
    # with replace's DELETE and the first row, is rolled back.
    con.execute(
        "CREATE TABLE df_src AS SELECT * FROM (VALUES (7, 'g', '7'), (8, 'h', 'eight')) "
        "t(id, name, qty)"
    )
    with pytest.raises(psycopg.Error, match='invalid input syntax for type integer: "eight"'):
        write(with_items, con, tmp_path, write_mode=mode, primary_key=["id"])
    assert items(with_items) == [(1, "a", 1), (2, "b", 2), (3, "c", 3)]


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["supabase.extractor", "supabase.writer"])
@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {},
            r"needs PostgreSQL settings .* or REST API settings .*"
            r"missing: url \(or project_id\), key$",
        ),
        ({"project_id": "abc"}, r"missing: key$"),
        ({"key": "secret"}, r"missing: url \(or project_id\)$"),
        ({"host": "db.example.com"}, r"the PostgreSQL settings lack database, user"),
    ],
)
def test_settings_missing_for_both_paths(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    component: str,
    config: dict[str, Any],
    message: str,
) -> None:
    con.execute("CREATE TABLE df_src AS SELECT 1 AS id")
    needs = ("src",) if component.endswith("writer") else ()
    with pytest.raises(ValueError, match=message):
        run(component, {**config, "table": "t"}, con, tmp_path, "step", needs)


def test_rest_path_without_the_supabase_client(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "supabase", None)  # import supabase now fails
    config = {"url": "https://abc.supabase.co", "key": "secret", "table": "t"}
    with pytest.raises(ImportError, match=r"pip install 'osiris-pipeline\[supabase\]'"):
        run("supabase.extractor", config, con, tmp_path)


# --- over the REST API ------------------------------------------------------------------


def test_rest_contract(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """Writes, replaces and reads back SUPABASE_TEST_TABLE (default osiris_contract_test),
    which must exist as `(id bigint primary key, name text, amount double precision)`,
    hold nothing else (replace deletes other rows), and accept the key's writes."""
    url, key = os.environ.get("SUPABASE_URL"), os.environ.get("SUPABASE_KEY")
    if not (url and key):
        pytest.skip("set SUPABASE_URL and SUPABASE_KEY to run the Supabase REST contract test")
    from supabase import create_client

    table = os.environ.get("SUPABASE_TEST_TABLE", "osiris_contract_test")
    rest = {"url": url, "key": key, "table": table}
    con.execute(
        "CREATE TABLE df_first AS SELECT * FROM (VALUES (1, 'a', 1.5), (2, 'b', 2.5), "
        "(3, 'c', 3.5)) t(id, name, amount)"
    )
    con.execute(
        "CREATE TABLE df_second AS SELECT * FROM (VALUES (2, 'B', 20.5), (4, 'd', 4.25)) "
        "t(id, name, amount)"
    )
    try:
        config = {**rest, "write_mode": "upsert", "primary_key": ["id"], "batch_size": 2}
        assert run("supabase.writer", config, con, tmp_path, "w1", ("first",)).rows_out == 3
        config = {**rest, "write_mode": "replace", "primary_key": ["id"], "batch_size": 1}
        assert run("supabase.writer", config, con, tmp_path, "w2", ("second",)).rows_out == 2

        # One row a page: the extractor pages until the table ends.
        config = {**rest, "order": "id", "batch_size": 1}
        assert run("supabase.extractor", config, con, tmp_path, "all").rows_out == 2
        assert con.execute("SELECT id, name, amount FROM df_all ORDER BY id").fetchall() == [
            (2, "B", 20.5),
            (4, "d", 4.25),
        ]
        config = {**rest, "filter": {"id": "gte.3"}, "select": "id,name"}
        run("supabase.extractor", config, con, tmp_path, "some")
        assert con.execute("SELECT * FROM df_some").fetchall() == [(4, "d")]
    finally:
        create_client(url, key).table(table).delete().in_("id", [1, 2, 3, 4]).execute()
