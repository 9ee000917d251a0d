"""MySQL and MariaDB through MySQL Connector/Python (Oracle's maintained driver).

Its C extension reads rows about eight times faster than a pure-Python client, which
makes the database, not Osiris, the limit of an extract. Rows stream from an unbuffered
cursor in raw mode: every value arrives as the server's text bytes and DuckDB casts each
batch to the column type the server reported.

Extracts read in a child process (`mysql_reader`): the C extension cannot load into a
process that already holds DuckDB and friends (glibc's static TLS block is full), and the
child fetches while this process loads the previous batch into DuckDB, on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Generator, Iterator, Sequence
from typing import Any

# The C extension first: loaded after pyarrow, it finds no room left in static TLS.
import mysql.connector  # isort: skip
import pyarrow as pa
from mysql.connector.constants import FieldFlag, FieldType

from osiris.drivers.duck_load import Column, unique_names
from osiris.drivers.sql_settings import DbSettings

DUCK_TYPE = b"duck_type"  # Arrow field metadata: the DuckDB type of the column


class MysqlError(Exception):
    """An error the MySQL server (or the reader process) reported, as it said it."""


NAME = "mysql"
TRANSACTIONAL_DDL = False  # CREATE TABLE commits at once
DEFAULT_PORT = 3306
NO_LIMIT = "18446744073709551615"  # MySQL needs a LIMIT before an OFFSET
_BINARY_CHARSET = 63
_INTEGERS = {FieldType.TINY, FieldType.SHORT, FieldType.INT24, FieldType.LONG}
_TEXT_OR_BLOB = {
    FieldType.VARCHAR,
    FieldType.VAR_STRING,
    FieldType.STRING,
    FieldType.TINY_BLOB,
    FieldType.MEDIUM_BLOB,
    FieldType.LONG_BLOB,
    FieldType.BLOB,
}


def connect(settings: DbSettings) -> Any:
    """A connection with autocommit off."""
    options: dict[str, Any] = {}
    for key in ("read_timeout", "write_timeout"):
        if settings.extra.get(key):
            options[key] = settings.extra[key]
    return mysql.connector.connect(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        password=settings.password,
        database=settings.database or None,
        charset=str(settings.extra.get("charset") or "utf8mb4"),
        connection_timeout=settings.connect_timeout,
        autocommit=False,
        **options,
    )


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def read(
    settings: DbSettings, sql: str, batch_size: int
) -> tuple[list[Column], Generator[pa.RecordBatch, None, None]]:
    """The columns of `sql`'s result and its rows as Arrow batches, read by a child
    process (`osiris.drivers.mysql_reader`); settings go over its stdin, never argv."""
    child = subprocess.Popen(
        [sys.executable, "-m", "osiris.drivers.mysql_reader"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        request = {"settings": dict(settings.extra), "sql": sql, "batch_size": batch_size}
        child.stdin.write(json.dumps(request, default=str).encode("utf-8"))
        child.stdin.close()
        try:
            reader = pa.ipc.open_stream(child.stdout)
        except pa.ArrowInvalid:
            raise _child_error(child) from None
    except BaseException:
        _stop(child)
        raise
    columns = [
        Column(f.name, (f.metadata or {}).get(DUCK_TYPE, b"VARCHAR").decode(), f.type)
        for f in reader.schema
    ]

    def batches() -> Generator[pa.RecordBatch, None, None]:
        try:
            try:
                yield from reader
            except pa.ArrowInvalid:
                raise _child_error(child) from None
            if child.wait() != 0:
                raise _child_error(child)
        finally:
            _stop(child)

    return columns, batches()


def _child_error(child: subprocess.Popen[bytes]) -> MysqlError:
    child.wait()
    text = child.stderr.read().decode("utf-8", "replace").strip() if child.stderr else ""
    try:
        return MysqlError(json.loads(text.splitlines()[-1])["error"])
    except (ValueError, KeyError, IndexError):
        return MysqlError(f"the MySQL reader stopped (exit {child.returncode}): {text[-500:]}")


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.kill()
        child.wait()
    for stream in (child.stdout, child.stderr):
        if stream:
            stream.close()


def schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema the reader sends, each field carrying its DuckDB type."""
    return pa.schema(
        [pa.field(c.name, c.arrow, metadata={DUCK_TYPE: c.duck_type}) for c in columns]
    )


def stream(conn: Any, sql: str, batch_size: int) -> tuple[list[Column], Iterator[list[Any]]]:
    """The columns of `sql`'s result and its rows in batches, unbuffered (in the reader)."""
    cursor = conn.cursor(raw=True)
    cursor.execute(sql)
    names = unique_names([d[0] for d in cursor.description])
    columns = [_column(name, d) for name, d in zip(names, cursor.description, strict=True)]

    def batches() -> Iterator[list[Any]]:
        try:
            while rows := cursor.fetchmany(batch_size):
                yield rows
        finally:
            cursor.close()

    return columns, batches()


def _column(name: str, description: Sequence[Any]) -> Column:
    kind, flags, charset = description[1], description[7], description[8]
    unsigned = bool(flags & FieldFlag.UNSIGNED)
    if kind in _INTEGERS:
        return Column(name, "BIGINT", pa.string())
    if kind == FieldType.LONGLONG:
        return Column(name, "UBIGINT" if unsigned else "BIGINT", pa.string())
    if kind in (FieldType.DECIMAL, FieldType.NEWDECIMAL):
        # The protocol does not say the scale; MySQL writes every value with all of its
        # decimals, so the loader reads it from the values (`DECIMAL` = "look").
        return Column(name, "DECIMAL", pa.string())
    if kind in (FieldType.FLOAT, FieldType.DOUBLE):
        return Column(name, "DOUBLE", pa.string())
    if kind == FieldType.YEAR:
        return Column(name, "INTEGER", pa.string())
    if kind in (FieldType.DATE, FieldType.NEWDATE):
        return Column(name, "DATE", pa.string())
    if kind in (FieldType.DATETIME, FieldType.TIMESTAMP):
        return Column(name, "TIMESTAMP", pa.string())
    if kind == FieldType.BIT or kind == FieldType.GEOMETRY:
        return Column(name, "BLOB", pa.binary())
    # TEXT is reported as a BLOB with a text charset; BINARY/VARBINARY and BLOB carry the
    # binary charset. TIME (past 24 hours, negative), ENUM, SET and JSON stay text.
    if kind in _TEXT_OR_BLOB and charset == _BINARY_CHARSET:
        return Column(name, "BLOB", pa.binary())
    return Column(name, "VARCHAR", pa.string())


def table_exists(conn: Any, schema: str | None, table: str) -> bool:
    cursor = conn.cursor()
    try:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s",
            (schema, table),
        )
        return bool(cursor.fetchall())
    finally:
        cursor.close()


def column_type(duck_type: str, key: bool) -> str:
    """The MySQL type to create for a DuckDB column type (`key`: part of the primary key)."""
    upper = duck_type.upper()
    simple = {
        "BOOLEAN": "BOOLEAN",
        "TINYINT": "TINYINT",
        "SMALLINT": "SMALLINT",
        "INTEGER": "INT",
        "BIGINT": "BIGINT",
        "UTINYINT": "TINYINT UNSIGNED",
        "USMALLINT": "SMALLINT UNSIGNED",
        "UINTEGER": "INT UNSIGNED",
        "UBIGINT": "BIGINT UNSIGNED",
        "HUGEINT": "DECIMAL(38, 0)",
        "FLOAT": "FLOAT",
        "DOUBLE": "DOUBLE",
        "DATE": "DATE",
        "TIME": "TIME(6)",
        "TIMESTAMP": "DATETIME(6)",
        "TIMESTAMP WITH TIME ZONE": "DATETIME(6)",
        "BLOB": "LONGBLOB",
        "UUID": "CHAR(36)",
        "JSON": "JSON",
    }
    if upper in simple:
        return simple[upper]
    if upper.startswith("DECIMAL"):
        return upper
    # TEXT cannot be a key without a length: key columns get a bounded VARCHAR.
    return "VARCHAR(255)" if key else "LONGTEXT"


def insert(conn: Any, target: str, names: Sequence[str], batches: Iterator[pa.RecordBatch]) -> int:
    """INSERT every batch (the driver sends each as one multi-row statement)."""
    sql = f"INSERT INTO {target} ({_names(names)}) VALUES ({_marks(names)})"
    return _insert(conn, sql, batches)


def upsert(
    conn: Any,
    target: str,
    names: Sequence[str],
    keys: Sequence[str],
    batches: Iterator[pa.RecordBatch],
) -> int:
    """INSERT ... ON DUPLICATE KEY UPDATE of every non-key column."""
    others = [n for n in names if n not in keys] or list(keys)
    updates = ", ".join(f"{quote(n)} = VALUES({quote(n)})" for n in others)
    sql = (
        f"INSERT INTO {target} ({_names(names)}) VALUES ({_marks(names)}) "
        f"ON DUPLICATE KEY UPDATE {updates}"
    )
    return _insert(conn, sql, batches)


def _insert(conn: Any, sql: str, batches: Iterator[pa.RecordBatch]) -> int:
    written = 0
    cursor = conn.cursor()
    try:
        for batch in batches:
            rows = list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            if rows:
                cursor.executemany(sql, rows)
                written += len(rows)
    finally:
        cursor.close()
    return written


def _names(names: Sequence[str]) -> str:
    return ", ".join(quote(n) for n in names)


def _marks(names: Sequence[str]) -> str:
    return ", ".join("%s" for _ in names)
