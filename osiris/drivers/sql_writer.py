"""`mysql.writer` and `postgres.writer`: the upstream table into a database table, in one
transaction: all rows are written or none.

Modes: `append` inserts; `replace` deletes every row of the table first; `upsert`
inserts or updates by `primary_key` (or upstream's `upsert_keys`). A table that does not
exist is created only with `create_table: true` (Supabase: `create_if_missing`), and is
dropped again when the write fails.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import pyarrow as pa

from osiris.drivers.base import StepContext, StepResult, table_columns
from osiris.drivers.base import quote as duck_quote
from osiris.drivers.duck_load import record_batches
from osiris.drivers.sql_settings import DbSettings, qualified

_NESTED = ("[]", "STRUCT", "MAP", "UNION")


class WriteRefused(ValueError):
    """The step's settings cannot work with this table (no rows were written)."""


class SqlWriter:
    database: str  # the module: osiris.drivers.mysql_db or osiris.drivers.postgres_db

    def run(self, ctx: StepContext) -> StepResult:
        if len(ctx.inputs) != 1:
            raise WriteRefused(f"a writer needs exactly one upstream step, got {len(ctx.inputs)}")
        (source,) = ctx.inputs.values()
        config = ctx.config
        db = importlib.import_module(self.database)
        mode = write_mode(config)
        columns = table_columns(ctx.connection, source)
        names = [name for name, _ in columns]
        keys = key_columns(config, mode, names)
        settings = DbSettings.from_config(config, db.DEFAULT_PORT)
        schema, table = split_table(settings.schema, str(config["table"]))
        target = qualified(schema, table, db.quote)
        batch_size = max(1, int(config.get("batch_size") or 10_000))
        if ctx.log:
            ctx.log(f"step {ctx.step_id}: {mode} into {table} on {settings.describe()}")
        conn = db.connect(settings)
        created = False
        try:
            if not db.table_exists(conn, schema, table):
                if not creates_table(config):
                    raise WriteRefused(
                        f"table {table} does not exist (set create_table: true, or Supabase's "
                        "create_if_missing: true, to create it)"
                    )
                _create(conn, db, target, columns, keys)
                created = True
            if mode == "replace" or config.get("truncate_before"):
                _execute(conn, f"DELETE FROM {target}")
            batches = _source_batches(ctx.connection, source, columns, db, batch_size)
            if mode == "upsert":
                written = db.upsert(conn, target, names, keys, batches)
            else:
                written = db.insert(conn, target, names, batches)
            conn.commit()
        except BaseException:
            _undo(conn, db, target, created)
            raise
        finally:
            conn.close()
        return StepResult(rows_in=written, rows_out=written)


class MysqlWriter(SqlWriter):
    database = "osiris.drivers.mysql_db"


class PostgresWriter(SqlWriter):
    database = "osiris.drivers.postgres_db"


def write_mode(config: Mapping[str, Any]) -> str:
    """The write mode: `mode`, or Supabase's `write_mode`."""
    return str(config.get("mode") or config.get("write_mode") or "append")


def creates_table(config: Mapping[str, Any]) -> bool:
    return bool(config.get("create_table") or config.get("create_if_missing"))


def key_columns(config: Mapping[str, Any], mode: str, names: Sequence[str]) -> list[str]:
    """The key columns (`primary_key`, or upstream's `upsert_keys`); upsert needs them."""
    value = config.get("primary_key") or config.get("upsert_keys") or []
    keys = [value] if isinstance(value, str) else [str(k) for k in value]
    if mode == "upsert" and not keys:
        raise WriteRefused("mode upsert needs primary_key: [<column>, ...]")
    missing = [k for k in keys if k not in names]
    if missing:
        raise WriteRefused(
            f"primary_key column(s) {', '.join(missing)} not in the upstream table "
            f"(columns: {', '.join(names)})"
        )
    return keys


def split_table(schema: str | None, table: str) -> tuple[str | None, str]:
    """(schema, table) of a `table` that may be written `schema.table`."""
    if "." in table:
        prefix, name = table.split(".", 1)
        return prefix, name
    return schema, table


def _create(
    conn: Any, db: ModuleType, target: str, columns: Sequence[tuple[str, str]], keys: list[str]
) -> None:
    body = [f"{db.quote(name)} {db.column_type(kind, name in keys)}" for name, kind in columns]
    if keys:
        body.append(f"PRIMARY KEY ({', '.join(db.quote(k) for k in keys)})")
    _execute(conn, f"CREATE TABLE {target} ({', '.join(body)})")


def _execute(conn: Any, sql: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(sql)


def _undo(conn: Any, db: ModuleType, target: str, created: bool) -> None:
    """Roll back; a table this step created is dropped (MySQL commits DDL at once)."""
    try:
        conn.rollback()
        if created and not db.TRANSACTIONAL_DDL:
            _execute(conn, f"DROP TABLE IF EXISTS {target}")
            conn.commit()
    except Exception:  # the connection may be gone: the server then rolled back itself
        pass


def _source_batches(
    connection: Any,
    source: str,
    columns: Sequence[tuple[str, str]],
    db: ModuleType,
    batch_size: int,
) -> Iterator[pa.RecordBatch]:
    """The upstream table in batches, each column in a form the database client takes."""
    expressions = [_writable(name, kind, db) for name, kind in columns]
    sql = f"SELECT {', '.join(expressions)} FROM {duck_quote(source)}"
    return record_batches(connection, sql, batch_size)


def _writable(name: str, kind: str, db: ModuleType) -> str:
    column = duck_quote(name)
    upper = kind.upper()
    if any(marker in upper for marker in _NESTED):
        return f"CAST(to_json({column}) AS VARCHAR) AS {column}"
    if db.NAME == "postgres" and upper == "BLOB":
        return f"'\\x' || lower(hex({column})) AS {column}"  # bytea's hex input format
    if upper in ("UUID", "INTERVAL", "JSON") or (db.NAME == "mysql" and upper.startswith("TIME ")):
        return f"CAST({column} AS VARCHAR) AS {column}"
    return column
