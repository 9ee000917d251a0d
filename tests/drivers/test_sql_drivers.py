"""mysql/postgres extractors and writers on the real local MariaDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from osiris.drivers.base import StepResult
from tests.helpers.databases import MysqlDatabase, PostgresSchema
from tests.helpers.steps import run_step as run


def mysql_execute(db: MysqlDatabase, *statements: str) -> list[tuple[Any, ...]]:
    import mysql.connector

    conn = mysql.connector.connect(**db.settings)
    try:
        cursor = conn.cursor()
        rows: list[tuple[Any, ...]] = []
        for statement in statements:
            cursor.execute(statement)
            rows = cursor.fetchall() if cursor.with_rows else []
        conn.commit()
        return rows
    finally:
        conn.close()


def pg_execute(schema: PostgresSchema, *statements: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(schema.dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema.name}"')
        rows: list[tuple[Any, ...]] = []
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


MYSQL_TYPES = """
CREATE TABLE kinds (
  id INT PRIMARY KEY, big BIGINT UNSIGNED, price DECIMAL(12, 3), ratio DOUBLE,
  name VARCHAR(32), note TEXT, born DATE, seen DATETIME(3), took TIME, flag TINYINT(1),
  raw VARBINARY(8), doc JSON, kind ENUM('a', 'b'), yr YEAR
)"""
MYSQL_ROWS = """
INSERT INTO kinds VALUES
 (1, 18446744073709551615, 12345.678, 0.5, 'Žluťoučký kůň', '', '2024-02-29',
  '2024-02-29 10:11:12.345', '-838:59:59', 1, x'00ff', '{"a": [1, 2]}', 'a', 2024),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""


def test_mysql_extractor_keeps_every_type_null_and_empty_string(
    mysql_database: MysqlDatabase, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    mysql_execute(mysql_database, MYSQL_TYPES, MYSQL_ROWS)
    result = run("mysql.extractor", {**mysql_database.settings, "table": "kinds"}, con, tmp_path)
    assert (result.rows_in, result.rows_out, result.table) == (2, 2, "df_step")
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'df_step'"
        ).fetchall()
    )
    assert types == {
        "id": "BIGINT",
        "big": "UBIGINT",
        "price": "DECIMAL(38,3)",
        "ratio": "DOUBLE",
        "name": "VARCHAR",
        "note": "VARCHAR",
        "born": "DATE",
        "seen": "TIMESTAMP",
        "took": "VARCHAR",
        "flag": "BIGINT",
        "raw": "BLOB",
        "doc": "VARCHAR",
        "kind": "VARCHAR",
        "yr": "INTEGER",
    }
    first, second = con.execute("SELECT * FROM df_step ORDER BY id").fetchall()
    assert first == (
        1,
        18446744073709551615,
        Decimal("12345.678"),
        0.5,
        "Žluťoučký kůň",
        "",
        dt.date(2024, 2, 29),
        dt.datetime(2024, 2, 29, 10, 11, 12, 345000),
        "-838:59:59",
        1,
        b"\x00\xff",
        '{"a": [1, 2]}',
        "a",
        2024,
    )
    assert second == (2, *([None] * 13))


def test_mysql_extractor_query_columns_limit_offset_and_batches(
    mysql_database: MysqlDatabase, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    mysql_execute(
        mysql_database,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(8))",
        "INSERT INTO t VALUES " + ",".join(f"({i}, 'v{i}')" for i in range(1, 26)),
    )
    settings = mysql_database.settings
    table = {**settings, "table": "t", "columns": ["id"], "limit": 5, "offset": 20}
    assert run("mysql.extractor", table, con, tmp_path).rows_out == 5
    assert con.execute("SELECT * FROM df_step").fetchall() == [(i,) for i in range(21, 26)]
    # Two `id` columns in one query become id and id_1; 25 rows in batches of 4.
    query = {**settings, "query": "SELECT a.id, b.id FROM t a JOIN t b ON a.id = b.id;"}
    assert run("mysql.extractor", {**query, "batch_size": 4}, con, tmp_path).rows_out == 25
    assert [row[0] for row in con.execute("DESCRIBE df_step").fetchall()] == ["id", "id_1"]
    only_offset = {**settings, "table": "t", "offset": 23}
    assert run("mysql.extractor", only_offset, con, tmp_path).rows_out == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"query": "SELEC 1"}, "1064 (42000): You have an error in your SQL syntax"),
        ({"table": "nope"}, "1146 (42S02): Table '{db}.nope' doesn't exist"),
        ({"table": "t", "password": "wrong"}, "1045 (28000): Access denied for user 'root'"),
        ({"table": "t", "port": 1}, "2003"),
    ],
)
def test_mysql_extractor_errors_are_the_servers_own_words(
    mysql_database: MysqlDatabase,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    config: dict[str, Any],
    message: str,
) -> None:
    mysql_execute(mysql_database, "CREATE TABLE t (id INT)")
    with pytest.raises(Exception) as info:
        run("mysql.extractor", {**mysql_database.settings, **config}, con, tmp_path)
    text = str(info.value)
    assert message.format(db=mysql_database.name) in text
    assert "\n" not in text


def test_postgres_extractor_types_and_server_side_batches(
    postgres_schema: PostgresSchema, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    pg_execute(
        postgres_schema,
        "CREATE TABLE kinds (id INT PRIMARY KEY, amount NUMERIC(10, 2), free NUMERIC, "
        "name TEXT, at TIMESTAMPTZ, day DATE, ok BOOLEAN, uid UUID, doc JSONB, "
        "tags INT[], raw BYTEA, span INTERVAL)",
        "INSERT INTO kinds VALUES (1, 9.50, 1.25, '', '2024-01-01 10:00:00+00', '2024-01-02', "
        "true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": 1}', '{1,2}', '\\x00ff', "
        "'1 day 02:00:00'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL)",
    )
    config = {**postgres_schema.settings, "table": "kinds", "batch_size": 1}
    assert run("postgres.extractor", config, con, tmp_path).rows_out == 2
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'df_step'"
        ).fetchall()
    )
    assert types == {
        "id": "INTEGER",
        "amount": "DECIMAL(10,2)",
        "free": "DOUBLE",
        "name": "VARCHAR",
        "at": "TIMESTAMP WITH TIME ZONE",
        "day": "DATE",
        "ok": "BOOLEAN",
        "uid": "UUID",
        "doc": "VARCHAR",
        "tags": "VARCHAR",
        "raw": "BLOB",
        "span": "INTERVAL",
    }
    row = con.execute("SELECT id, amount, name, ok, doc, tags, raw FROM df_step WHERE id = 1")
    assert row.fetchall() == [(1, Decimal("9.50"), "", True, '{"k": 1}', "{1,2}", b"\x00\xff")]


def load_source(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE df_src AS SELECT * FROM (VALUES {rows}) v(id, name, amount)"
    )


WRITERS = ["mysql", "postgres"]


@pytest.fixture(params=WRITERS)
def target(request: pytest.FixtureRequest) -> tuple[str, Any]:
    family = request.param
    fixture = "mysql_database" if family == "mysql" else "postgres_schema"
    return family, request.getfixturevalue(fixture)


def target_rows(family: str, db: Any, table: str = "people") -> list[tuple[Any, ...]]:
    sql = f"SELECT id, name, amount FROM {table} ORDER BY id"
    rows = mysql_execute(db, sql) if family == "mysql" else pg_execute(db, sql)
    return [(int(i), n, Decimal(str(a)) if a is not None else None) for i, n, a in rows]


def write(family: str, db: Any, con, tmp_path: Path, **config: Any) -> StepResult:
    settings = {**db.settings, "table": "people", **config}
    return run(f"{family}.writer", settings, con, tmp_path, "sink", ("src",))


def test_writer_modes_append_replace_upsert_and_create_table(
    target: tuple[str, Any], con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    family, db = target
    load_source(con, "(1, 'Ann', 10.50::DECIMAL(10,2)), (2, '', NULL)")
    result = write(family, db, con, tmp_path, create_table=True, primary_key=["id"])
    assert (result.rows_in, result.rows_out) == (2, 2)
    assert target_rows(family, db) == [(1, "Ann", Decimal("10.50")), (2, "", None)]
    load_source(con, "(3, 'Cy', 1.00::DECIMAL(10,2))")
    write(family, db, con, tmp_path, mode="append")
    assert [r[0] for r in target_rows(family, db)] == [1, 2, 3]
    load_source(con, "(2, 'Bo', 2.00::DECIMAL(10,2)), (4, 'Di', 4.00::DECIMAL(10,2))")
    write(family, db, con, tmp_path, mode="upsert", primary_key=["id"])
    assert target_rows(family, db) == [
        (1, "Ann", Decimal("10.50")),
        (2, "Bo", Decimal("2.00")),
        (3, "Cy", Decimal("1.00")),
        (4, "Di", Decimal("4.00")),
    ]
    load_source(con, "(9, 'Zed', 9.00::DECIMAL(10,2))")
    assert write(family, db, con, tmp_path, mode="replace").rows_out == 1
    assert target_rows(family, db) == [(9, "Zed", Decimal("9.00"))]


def test_a_failing_write_leaves_the_target_as_it_was(
    target: tuple[str, Any], con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    family, db = target
    execute = mysql_execute if family == "mysql" else pg_execute
    execute(db, "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(8), amount INT)")
    execute(db, "INSERT INTO people VALUES (1, 'kept', 1)")
    # The second batch holds text for an integer column: the first batch must not stay.
    con.execute(
        "CREATE TABLE df_src AS SELECT i AS id, 'x' AS name, "
        "CASE WHEN i = 7 THEN 'not a number' ELSE CAST(i AS VARCHAR) END AS amount "
        "FROM range(2, 9) t(i)"
    )
    with pytest.raises(Exception) as info:
        write(family, db, con, tmp_path, mode="replace", batch_size=3)
    assert "not a number" in str(info.value) or "Incorrect integer value" in str(info.value)
    assert target_rows(family, db) == [(1, "kept", Decimal("1"))]


def test_a_created_table_is_dropped_when_the_write_fails(
    target: tuple[str, Any], con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    family, db = target
    load_source(con, "(1, 'a', 1.0), (1, 'dup', 2.0)")  # a duplicate primary key
    with pytest.raises(Exception, match=r"(?i)duplicate"):
        write(family, db, con, tmp_path, create_table=True, primary_key=["id"])
    execute = mysql_execute if family == "mysql" else pg_execute
    check = "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'people' AND " + (
        "table_schema = DATABASE()" if family == "mysql" else f"table_schema = '{db.name}'"
    )
    assert execute(db, check) == [(0,)]


def test_a_missing_table_or_key_is_refused_before_writing(
    target: tuple[str, Any], con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    family, db = target
    load_source(con, "(1, 'a', 1.0)")
    with pytest.raises(ValueError, match=r"table people does not exist \(set create_table: true"):
        write(family, db, con, tmp_path)
    with pytest.raises(ValueError, match="mode upsert needs primary_key"):
        write(family, db, con, tmp_path, mode="upsert", create_table=True)
    with pytest.raises(ValueError, match=r"primary_key column\(s\) nope not in the upstream"):
        write(family, db, con, tmp_path, primary_key=["nope"], create_table=True)
