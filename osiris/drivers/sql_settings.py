"""Connection settings of a database step, as the runner resolved them (config keys and
its named connection's fields), and the SQL a database extractor runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class DbSettings:
    host: str
    port: int
    database: str
    user: str
    password: str
    schema: str | None
    connect_timeout: int
    extra: Mapping[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], default_port: int) -> DbSettings:
        """Settings from a step config; a `dsn` (or Supabase's `pg_dsn`) fills what the
        config leaves out."""
        values = dict(config)
        dsn = values.get("dsn") or values.get("pg_dsn")
        if dsn:
            for key, value in _parse_dsn(str(dsn)).items():
                if values.get(key) in (None, "", "localhost") or key == "host":
                    values[key] = value
        return cls(
            host=str(values.get("host") or "localhost"),
            port=int(values.get("port") or default_port),
            database=str(values.get("database") or ""),
            user=str(values.get("user") or ""),
            password=str(values.get("password") or ""),
            schema=values.get("schema") or None,
            connect_timeout=int(values.get("connect_timeout") or 10),
            extra=values,
        )

    def describe(self) -> str:
        """`user@host:port/database`, for logs (no password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


def _parse_dsn(dsn: str) -> dict[str, Any]:
    parts = urlsplit(dsn)
    found: dict[str, Any] = {}
    if parts.hostname:
        found["host"] = parts.hostname
    if parts.port:
        found["port"] = parts.port
    if parts.username:
        found["user"] = unquote(parts.username)
    if parts.password:
        found["password"] = unquote(parts.password)
    if parts.path.strip("/"):
        found["database"] = unquote(parts.path.strip("/"))
    return found


def select_sql(
    config: Mapping[str, Any], quote: Callable[[str], str], *, no_limit: str | None = None
) -> str:
    """The statement an extractor runs: its `query`, or a SELECT of `table` (with
    `schema`, `columns`, `limit` and `offset`). `no_limit` is the LIMIT a database needs
    before an OFFSET when there is no limit (MySQL)."""
    query = config.get("query")
    if query:
        sql = str(query).strip().rstrip(";").strip()
    else:
        columns = config.get("columns") or []
        listed = ", ".join(quote(str(c)) for c in columns) if columns else "*"
        sql = f"SELECT {listed} FROM {qualified(config.get('schema'), config['table'], quote)}"
    limit, offset = config.get("limit"), config.get("offset") or 0
    if limit is not None or offset:
        # As a subquery, so it also bounds a query that has its own LIMIT.
        sql = f"SELECT * FROM ({sql}) AS osiris_limited"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        elif no_limit:
            sql += f" LIMIT {no_limit}"
        if offset:
            sql += f" OFFSET {int(offset)}"
    return sql


def qualified(schema: str | None, table: str, quote: Callable[[str], str]) -> str:
    """`schema.table`, quoted; a table written `schema.table` is split at its dot."""
    if not schema and "." in table:
        schema, table = table.split(".", 1)
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)
