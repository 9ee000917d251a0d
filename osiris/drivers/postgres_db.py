"""PostgreSQL through psycopg 3 (the maintained successor of psycopg2, with COPY).

Reads use a server-side cursor, so rows stream in batches; writes use COPY FROM STDIN
fed with CSV that Arrow writes batch by batch. Values psycopg would turn into Python
objects Arrow cannot hold (UUID, Decimal, JSON, network types, arrays) are loaded as text
and cast by DuckDB to the column type.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.types.string import TextLoader

from osiris.drivers.duck_load import Column, rows_to_arrow, unique_names
from osiris.drivers.sql_settings import DbSettings

NAME = "postgres"
TRANSACTIONAL_DDL = True
DEFAULT_PORT = 5432
NO_LIMIT = None
# PostgreSQL type -> (DuckDB type, Arrow type of the Python values psycopg gives).
_NATIVE: dict[str, tuple[str, pa.DataType]] = {
    "bool": ("BOOLEAN", pa.bool_()),
    "int2": ("SMALLINT", pa.int64()),
    "int4": ("INTEGER", pa.int64()),
    "int8": ("BIGINT", pa.int64()),
    "oid": ("BIGINT", pa.int64()),
    "float4": ("FLOAT", pa.float64()),
    "float8": ("DOUBLE", pa.float64()),
    "date": ("DATE", pa.date32()),
    "time": ("TIME", pa.time64("us")),
    "timestamp": ("TIMESTAMP", pa.timestamp("us")),
    "timestamptz": ("TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
    "bytea": ("BLOB", pa.binary()),
    "text": ("VARCHAR", pa.string()),
    "varchar": ("VARCHAR", pa.string()),
    "bpchar": ("VARCHAR", pa.string()),
    "name": ("VARCHAR", pa.string()),
}
# Loaded as text, cast by DuckDB.
_AS_TEXT = {"uuid": "UUID", "interval": "INTERVAL", "numeric": "NUMERIC"}


def connect(settings: DbSettings) -> Any:
    options: dict[str, Any] = {}
    if settings.extra.get("sslmode"):
        options["sslmode"] = settings.extra["sslmode"]
    conn = psycopg.connect(
        host=settings.host,
        port=settings.port,
        dbname=settings.database,
        user=settings.user,
        password=settings.password or None,
        connect_timeout=settings.connect_timeout,
        autocommit=False,
        **options,
    )
    _text_loaders(conn)
    return conn


def _text_loaders(conn: Any) -> None:
    # Every built-in type psycopg would turn into an object Arrow cannot take, and every
    # array, arrives as its text; other (extension) types arrive as text already.
    for info in psycopg.adapters.types:
        if info.name not in _NATIVE:
            conn.adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            conn.adapters.register_loader(info.array_oid, TextLoader)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read(
    settings: DbSettings, sql: str, batch_size: int
) -> tuple[list[Column], Generator[pa.Table, None, None]]:
    """The columns of `sql`'s result and its rows as Arrow batches, from a server-side
    cursor (the connection closes when the batches are exhausted or closed)."""
    conn = connect(settings)
    try:
        cursor = conn.cursor(name="osiris_extract")
        cursor.itersize = batch_size
        cursor.execute(sql)
        names = unique_names([d.name for d in cursor.description])
        columns = [_column(name, d) for name, d in zip(names, cursor.description, strict=True)]
    except BaseException:
        conn.close()
        raise

    def batches() -> Generator[pa.Table, None, None]:
        try:
            while rows := cursor.fetchmany(batch_size):
                yield rows_to_arrow(rows, columns)
        finally:
            conn.close()

    return columns, batches()


def _column(name: str, description: Any) -> Column:
    info = psycopg.adapters.types.get(description.type_code)
    # Looked up by an array's oid, the registry gives its element type: arrays are text.
    is_array = info is not None and info.array_oid == description.type_code
    type_name = info.name if info and not is_array else ""
    if type_name in _NATIVE:
        duck, arrow = _NATIVE[type_name]
        return Column(name, duck, arrow)
    if type_name == "numeric":
        precision, scale = description.precision, description.scale
        if precision and precision <= 38:
            return Column(name, f"DECIMAL({precision}, {scale or 0})", pa.string())
        return Column(name, "DOUBLE", pa.string())
    return Column(name, _AS_TEXT.get(type_name, "VARCHAR"), pa.string())


def table_exists(conn: Any, schema: str | None, table: str) -> bool:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_name = %s "
            "AND table_schema = COALESCE(%s, current_schema())",
            (table, schema),
        )
        return cursor.fetchone() is not None


def column_type(duck_type: str, key: bool) -> str:
    """The PostgreSQL type to create for a DuckDB column type."""
    upper = duck_type.upper()
    simple = {
        "BOOLEAN": "BOOLEAN",
        "TINYINT": "SMALLINT",
        "SMALLINT": "SMALLINT",
        "INTEGER": "INTEGER",
        "BIGINT": "BIGINT",
        "UTINYINT": "SMALLINT",
        "USMALLINT": "INTEGER",
        "UINTEGER": "BIGINT",
        "UBIGINT": "NUMERIC(20, 0)",
        "HUGEINT": "NUMERIC(38, 0)",
        "FLOAT": "REAL",
        "DOUBLE": "DOUBLE PRECISION",
        "DATE": "DATE",
        "TIME": "TIME",
        "TIMESTAMP": "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
        "INTERVAL": "INTERVAL",
        "BLOB": "BYTEA",
        "UUID": "UUID",
        "JSON": "JSONB",
    }
    if upper in simple:
        return simple[upper]
    if upper.startswith("DECIMAL"):
        return upper.replace("DECIMAL", "NUMERIC")
    return "TEXT"


def insert(conn: Any, target: str, names: Sequence[str], batches: Iterator[pa.RecordBatch]) -> int:
    """COPY every batch into `target` as CSV."""
    written = 0
    sql = f"COPY {target} ({_names(names)}) FROM STDIN (FORMAT csv)"
    with conn.cursor() as cursor, cursor.copy(sql) as copy:
        for batch in batches:
            buffer = io.BytesIO()
            # Arrow quotes every string, so "" is an empty string and nothing is NULL.
            pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
            copy.write(buffer.getbuffer())
            written += batch.num_rows
    return written


def upsert(
    conn: Any,
    target: str,
    names: Sequence[str],
    keys: Sequence[str],
    batches: Iterator[pa.RecordBatch],
) -> int:
    """COPY into a temporary table, then INSERT ... ON CONFLICT (keys) DO UPDATE."""
    staging = quote("osiris_upsert_staging")
    with conn.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {_names(names)} FROM {target} WITH NO DATA"
        )
    written = insert(conn, staging, names, batches)
    others = [n for n in names if n not in keys]
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in others)
        if others
        else "DO NOTHING"
    )
    with conn.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {target} ({_names(names)}) SELECT {_names(names)} FROM {staging} "
            f"ON CONFLICT ({_names(keys)}) {action}"
        )
    return written


def _names(names: Sequence[str]) -> str:
    return ", ".join(quote(n) for n in names)
