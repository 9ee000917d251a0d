"""`supabase.extractor` and `supabase.writer`: a Supabase table over PostgreSQL or over
Supabase's REST API.

A step given the database's own settings (`pg_dsn`, or `host` with `database` and `user`)
runs through the `postgres` drivers: exact column types, and a write is one transaction.
Otherwise it talks to the REST API (PostgREST) with the `supabase` client, given `url`
(or `project_id`) and `key` (or a connection's `service_role_key` / `anon_key`).

The REST path is NOT transactional. Each request of `batch_size` rows commits on its
own: a write that fails part way leaves the batches before it written, and `replace`
(upsert, then delete the rows whose key was not written, as upstream) deletes only once
every batch is in. It cannot create tables. The extractor reads pages by offset (give
`order`, e.g. the key, for stable pages). Values travel as JSON, so it types columns by
their values (integers, doubles, booleans, JSON) and leaves dates and timestamps as
text; the PostgreSQL path keeps every type exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pyarrow as pa

from osiris.drivers.base import StepContext, StepResult, table_columns, table_name
from osiris.drivers.base import quote as duck_quote
from osiris.drivers.duck_load import Column, TableLoader, record_batches
from osiris.drivers.postgres_db import DEFAULT_PORT
from osiris.drivers.sql_extractor import PostgresExtractor
from osiris.drivers.sql_settings import DbSettings
from osiris.drivers.sql_writer import PostgresWriter, WriteRefused, key_columns, write_mode

_PG_SETTINGS = "pg_dsn, or host with database and user"
_PLAIN_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LIST_PAGE = 1000  # Supabase's default max-rows
_DELETE_CHUNK = 100  # keys per DELETE request: they travel in the URL
_NO_TABLE = ("PGRST205", "42P01")  # PostgREST's and PostgreSQL's "no such table"
# DuckDB types whose Python values JSON cannot carry (Decimal, intervals, ...): as text;
# nested ones as JSON values.
_AS_TEXT = ("DECIMAL", "HUGEINT", "UHUGEINT", "INTERVAL", "UUID", "TIME WITH TIME ZONE", "BIT")
_NESTED = ("[]", "STRUCT", "MAP", "UNION", "JSON")
_NUMBERS = ("BIGINT", "HUGEINT", "DOUBLE")  # narrowest first


class SupabaseExtractor:
    def run(self, ctx: StepContext) -> StepResult:
        if _over_postgres("supabase.extractor", ctx.config):
            return PostgresExtractor().run(replace(ctx, config=_sql_read_config(ctx.config)))
        return _rest_extract(ctx)


class SupabaseWriter:
    def run(self, ctx: StepContext) -> StepResult:
        if len(ctx.inputs) != 1:
            raise WriteRefused(f"a writer needs exactly one upstream step, got {len(ctx.inputs)}")
        if _over_postgres("supabase.writer", ctx.config):
            config = {**ctx.config, "mode": write_mode(ctx.config)}
            return PostgresWriter().run(replace(ctx, config=config))
        return _rest_write(ctx)


def _over_postgres(component: str, config: Mapping[str, Any]) -> bool:
    """Whether the step has PostgreSQL settings; they must then be complete."""
    if not (config.get("pg_dsn") or config.get("host")):
        return False
    settings = DbSettings.from_config(config, DEFAULT_PORT)
    missing = [key for key in ("database", "user") if not getattr(settings, key)]
    if missing:
        raise ValueError(
            f"{component}: the PostgreSQL settings lack {', '.join(missing)} (give {_PG_SETTINGS})"
        )
    return True


def _sql_read_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config for the SQL extractor: a plain `select` list becomes `columns`;
    PostgREST's select, filter and order syntax has no SQL counterpart here."""
    if config.get("filter") or config.get("order"):
        raise ValueError(
            "supabase.extractor: filter and order are REST API options; over PostgreSQL "
            "write a query (SELECT ... WHERE ... ORDER BY ...)"
        )
    select = str(config.get("select") or "*").strip()
    if select == "*":
        return dict(config)
    names = [name.strip() for name in select.split(",")]
    if not all(_PLAIN_COLUMN.fullmatch(name) for name in names):
        raise ValueError(
            f"supabase.extractor: select {select!r} is PostgREST syntax; over PostgreSQL "
            "list plain columns or write a query"
        )
    return {**config, "columns": names}


@contextmanager
def _rest_client(component: str, config: Mapping[str, Any]) -> Iterator[Any]:
    """A PostgREST client on the step's schema (`supabase` is an optional dependency)."""
    project = config.get("project_id")
    url = config.get("url") or (f"https://{project}.supabase.co" if project else None)
    key = config.get("key") or config.get("service_role_key") or config.get("anon_key")
    missing = ([] if url else ["url (or project_id)"]) + ([] if key else ["key"])
    if missing:
        raise ValueError(
            f"{component} needs PostgreSQL settings ({_PG_SETTINGS}) or REST API settings "
            f"(url or project_id, and key); missing: {', '.join(missing)}"
        )
    try:
        from supabase import ClientOptions, create_client
    except ImportError as exc:
        raise ImportError(
            f"{component} over the REST API needs the supabase client: "
            "install it with pip install 'osiris-pipeline[supabase]'"
        ) from exc
    options = ClientOptions(
        schema=str(config.get("schema") or "public"),
        postgrest_client_timeout=float(config.get("timeout") or 30),
        auto_refresh_token=False,  # an API key, not a user session: no refresh thread
        persist_session=False,
    )
    with create_client(str(url).rstrip("/"), str(key), options).postgrest as rest:
        yield rest


def _execute(request: Any, doing: str) -> Any:
    try:
        return request.execute()
    except Exception as exc:  # APIError or a transport error: say what was being done
        code = getattr(exc, "code", None)
        text = " ".join(str(getattr(exc, "message", None) or exc).split())
        if code in _NO_TABLE:
            text += f" (the REST API cannot create tables: create it, or give {_PG_SETTINGS})"
        prefix = f"{code}: " if code else ""
        raise RuntimeError(f"Supabase REST API: {doing} failed: {prefix}{text}") from exc


# --- REST extractor ---------------------------------------------------------------------


def _rest_extract(ctx: StepContext) -> StepResult:
    config = ctx.config
    if config.get("query"):
        raise ValueError(
            f"supabase.extractor: a query needs PostgreSQL settings ({_PG_SETTINGS}); "
            "the REST API reads a table"
        )
    table = str(config["table"])
    page = max(1, int(config.get("batch_size") or _LIST_PAGE))
    limit = None if config.get("limit") is None else int(config["limit"])
    start = int(config.get("offset") or 0)
    loader: TableLoader | None = None
    kinds: dict[str, set[str]] = {}  # column -> the DuckDB types of its values
    read = 0
    with _rest_client("supabase.extractor", config) as rest:
        while limit is None or read < limit:
            size = page if limit is None else min(page, limit - read)
            request = _select(rest, config).range(start + read, start + read + size - 1)
            rows = _execute(request, f"reading {table}").data
            if not rows:  # only an empty page ends the table: the server may cap pages
                break
            read += len(rows)
            if loader is None:
                kinds = {name: set() for name in rows[0]}
                columns = [Column(name, "VARCHAR", pa.string()) for name in kinds]
                loader = TableLoader(ctx.connection, table_name(ctx.step_id), columns)
            texts = [{name: _text(row.get(name), kinds[name]) for name in kinds} for row in rows]
            schema = pa.schema([(name, pa.string()) for name in kinds])
            loader.append(pa.Table.from_pylist(texts, schema=schema))
    if loader is None:
        raise ValueError(
            f"supabase.extractor: {table} returned no rows, so the REST API tells nothing "
            f"of its columns (to read an empty table, give {_PG_SETTINGS})"
        )
    _type_columns(ctx.connection, loader.table, kinds)
    return StepResult(rows_in=loader.rows, rows_out=loader.rows, table=loader.table)


def _select(rest: Any, config: Mapping[str, Any]) -> Any:
    request = rest.from_(str(config["table"])).select(str(config.get("select") or "*"))
    for column, value in (config.get("filter") or {}).items():
        request = _filtered(request, str(column), value)
    for term in str(config.get("order") or "").split(","):
        if term.strip():  # PostgREST's syntax, as upstream: `created_at.desc.nullslast`
            column, *flags = term.strip().split(".")
            first = True if "nullsfirst" in flags else False if "nullslast" in flags else None
            request = request.order(column, desc="desc" in flags, nullsfirst=first)
    return request


def _filtered(request: Any, column: str, value: Any) -> Any:
    """One `filter` entry: a value means equality, a list `in`, null `is null`, and a
    string in PostgREST's `<operator>.<value>` form (`gte.2024-01-01`, `not.in.(a,b)`,
    as in upstream's examples) that operator. `eq.<value>` compares any string."""
    from postgrest.types import Filters

    if value is None:
        return request.is_(column, None)
    if isinstance(value, list):
        return request.in_(column, value)
    if isinstance(value, str):
        operator, dot, criteria = value.partition(".")
        negated = operator == Filters.NOT
        if negated:
            operator, dot, criteria = criteria.partition(".")
        if dot and operator != Filters.NOT and operator in {f.value for f in Filters}:
            return request.filter(column, f"not.{operator}" if negated else operator, criteria)
    return request.eq(column, value)


def _text(value: Any, kinds: set[str]) -> str | None:
    """A JSON value as text, adding its DuckDB type to `kinds`."""
    if value is None:
        return None
    if isinstance(value, bool):
        kinds.add("BOOLEAN")
        return "true" if value else "false"
    if isinstance(value, int):
        kinds.add(
            "BIGINT" if abs(value) < 2**63 else "HUGEINT" if abs(value) < 2**127 else "DOUBLE"
        )
        return str(value)
    if isinstance(value, float):
        kinds.add("DOUBLE")
        return repr(value)
    if isinstance(value, str):
        kinds.add("VARCHAR")
        return value
    kinds.add("JSON")
    return json.dumps(value, ensure_ascii=False)


def _type_columns(connection: Any, table: str, kinds: Mapping[str, set[str]]) -> None:
    """Type each column by its values over every page (loaded as text, since a later
    page may turn an integer column into doubles); all-null or mixed columns stay text."""
    for name, seen in kinds.items():
        if seen and seen <= set(_NUMBERS):
            kind = max(seen, key=_NUMBERS.index)
        elif len(seen) == 1:
            (kind,) = seen
        else:
            continue
        if kind != "VARCHAR":
            table_sql, column = duck_quote(table), duck_quote(name)
            connection.execute(f"ALTER TABLE {table_sql} ALTER {column} TYPE {kind}")


# --- REST writer ------------------------------------------------------------------------


def _rest_write(ctx: StepContext) -> StepResult:
    config = ctx.config
    (source,) = ctx.inputs.values()
    mode = write_mode(config)
    columns = table_columns(ctx.connection, source)
    keys = key_columns(config, mode, [name for name, _ in columns])
    if mode == "replace" and not keys:
        raise WriteRefused("write_mode replace needs primary_key: [<column>, ...]")
    if config.get("truncate_before"):
        raise WriteRefused(f"truncate_before needs PostgreSQL settings ({_PG_SETTINGS})")
    table = str(config["table"])
    batch_size = max(1, int(config.get("batch_size") or _LIST_PAGE))
    as_json = [name for name, kind in columns if any(m in kind.upper() for m in _NESTED)]
    sql = f"SELECT {', '.join(_sendable(n, k) for n, k in columns)} FROM {duck_quote(source)}"
    written = 0
    kept: set[tuple[Any, ...]] = set()
    with _rest_client("supabase.writer", config) as rest:
        from postgrest.types import ReturnMethod

        for batch in record_batches(ctx.connection, sql, batch_size):
            rows = batch.to_pylist()
            for row in rows:
                for name in as_json:  # a JSON value, not a string holding one
                    row[name] = None if row[name] is None else json.loads(row[name])
            if mode == "append":
                request = rest.from_(table).insert(rows, returning=ReturnMethod.minimal)
            else:
                request = rest.from_(table).upsert(
                    rows, on_conflict=",".join(keys), returning=ReturnMethod.minimal
                )
            if mode == "replace":
                # The keys as the server stores them, to compare with the ones it lists.
                request = request.select(*keys)
            doing = (
                f"writing rows {written + 1}-{written + len(rows)} to {table} "
                f"(the {written} rows before them stay written)"
            )
            response = _execute(request, doing)
            if mode == "replace":
                kept.update(_key(row, keys) for row in response.data)
            written += len(rows)
        if mode == "replace":
            _delete_others(rest, table, keys, kept, ReturnMethod.minimal)
    return StepResult(rows_in=written, rows_out=written)


def _sendable(name: str, kind: str) -> str:
    column = duck_quote(name)
    if any(marker in kind.upper() for marker in _NESTED):
        return f"CAST(to_json({column}) AS VARCHAR) AS {column}"
    if kind.upper().startswith(_AS_TEXT):
        return f"CAST({column} AS VARCHAR) AS {column}"
    return column


def _key(row: Mapping[str, Any], keys: list[str]) -> tuple[Any, ...]:
    return tuple(row[key] for key in keys)


def _delete_others(
    rest: Any, table: str, keys: list[str], kept: set[tuple[Any, ...]], minimal: Any
) -> None:
    """Delete the rows whose key is not in `kept`: list every key first (in key order,
    page by page), then delete, so deleting does not shift the pages still to read."""
    others: list[tuple[Any, ...]] = []
    listed = 0
    while True:
        request = rest.from_(table).select(*keys)
        for key in keys:
            request = request.order(key)
        request = request.range(listed, listed + _LIST_PAGE - 1)
        rows = _execute(request, f"listing the keys of {table}").data
        if not rows:
            break
        listed += len(rows)
        others += [key for row in rows if (key := _key(row, keys)) not in kept]
    for start in range(0, len(others), _DELETE_CHUNK):
        chunk = others[start : start + _DELETE_CHUNK]
        request = rest.from_(table).delete(returning=minimal)
        if len(keys) == 1:
            request = request.in_(keys[0], [key[0] for key in chunk])
        else:
            request = request.or_(",".join(_all_equal(keys, key) for key in chunk))
        _execute(request, f"deleting the rows of {table} not written ({start} deleted)")


def _all_equal(keys: list[str], values: tuple[Any, ...]) -> str:
    """PostgREST's `and(k1.eq.v1,k2.eq.v2)`, names and values quoted where needed."""
    from postgrest.utils import sanitize_param

    pairs = zip(keys, values, strict=True)
    return "and(" + ",".join(f"{sanitize_param(k)}.eq.{sanitize_param(v)}" for k, v in pairs) + ")"
