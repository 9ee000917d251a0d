"""Specs of the components that reach outside the project: databases and HTTP APIs.

Names, modes and config keys are upstream's (each component's `spec.yaml`), so upstream
pipelines compile unchanged. A step may take its connection settings from a named
connection (`connection: "@mysql.shop"`); `CONNECTION_FIELDS` says which fields a
connection of each family may hold.
"""

from __future__ import annotations

from osiris.core.component_spec import ComponentSpec, ConfigKey

_CONNECT_KEYS = ("host", "port", "database", "user", "password", "schema")
# Upstream's drivers pass these to their SQLAlchemy pools: accepted, without effect here.
_POOL = {
    "pool_size": ConfigKey("int", default=5),
    "pool_recycle": ConfigKey("int", default=3600),
    "echo": ConfigKey("bool", default=False),
}
_WRITE_MODES = ("append", "replace", "upsert")


def _connect(port: int, schema: str | None) -> dict[str, ConfigKey]:
    return {
        "connection": ConfigKey("connection"),
        "host": ConfigKey("str", default="localhost"),
        "port": ConfigKey("int", default=port),
        "database": ConfigKey("str"),
        "user": ConfigKey("str"),
        "password": ConfigKey("str"),
        "schema": ConfigKey("str", default=schema),
    }


def _extractor_keys(port: int, schema: str | None) -> dict[str, ConfigKey]:
    return {
        **_connect(port, schema),
        "table": ConfigKey("str"),
        "query": ConfigKey("str"),
        "columns": ConfigKey("list"),
        "limit": ConfigKey("int"),
        "offset": ConfigKey("int", default=0),
        "batch_size": ConfigKey("int", default=10_000),
        **_POOL,
    }


def _writer_keys(port: int, schema: str | None) -> dict[str, ConfigKey]:
    return {
        **_connect(port, schema),
        "table": ConfigKey("str", required=True),
        "mode": ConfigKey("str", default="append", choices=_WRITE_MODES),
        "primary_key": ConfigKey("any"),
        "upsert_keys": ConfigKey("list"),
        "batch_size": ConfigKey("int", default=10_000),
        "create_table": ConfigKey("bool", default=False),
        "truncate_before": ConfigKey("bool", default=False),
        **_POOL,
    }


def _database_specs() -> list[ComponentSpec]:
    found = []
    for family, port, schema, title in (
        ("mysql", 3306, None, "MySQL or MariaDB"),
        ("postgres", 5432, "public", "PostgreSQL"),
    ):
        kind = family.title()
        found += [
            ComponentSpec(
                name=f"{family}.extractor",
                modes=("read",),
                driver=f"osiris.drivers.sql_extractor:{kind}Extractor",
                config=_extractor_keys(port, schema),
                connection_keys=_CONNECT_KEYS,
                one_of=("table", "query"),
                settings_required=("database", "user"),
                description=f"Read a table or a query from {title} into a table, in batches.",
                example={"connection": f"@{family}.shop", "query": "SELECT * FROM orders"},
            ),
            ComponentSpec(
                name=f"{family}.writer",
                modes=("write",),
                driver=f"osiris.drivers.sql_writer:{kind}Writer",
                config=_writer_keys(port, schema),
                upstream=1,
                connection_keys=_CONNECT_KEYS,
                settings_required=("database", "user"),
                description=f"Write the upstream table to {title}: append, replace or upsert, "
                "in one transaction.",
                example={
                    "connection": f"@{family}.shop",
                    "table": "orders",
                    "mode": "upsert",
                    "primary_key": ["id"],
                },
            ),
        ]
    return found


# Upstream's Supabase components talk to its REST API (`url` or `project_id`, and `key`);
# given PostgreSQL settings (`host` ... or `pg_dsn`) they use the `postgres` drivers.
_SUPABASE_REST = {
    "url": ConfigKey("str"),
    "key": ConfigKey("str"),
    "project_id": ConfigKey("str"),
    "pg_dsn": ConfigKey("str"),
    "timeout": ConfigKey("int", default=30),
    "retries": ConfigKey("int", default=3),
}
_SUPABASE_KEYS = (*_CONNECT_KEYS, "url", "key", "project_id", "pg_dsn")
# No default host or port: a `host` in the config means the step was given PostgreSQL
# settings (osiris.drivers.supabase picks its path by that).
_SUPABASE_NO_PG_DEFAULTS = {"host": ConfigKey("str"), "port": ConfigKey("int")}


def _supabase_specs() -> list[ComponentSpec]:
    extractor = {
        **_extractor_keys(5432, "public"),
        **_SUPABASE_NO_PG_DEFAULTS,
        **_SUPABASE_REST,
        "select": ConfigKey("str", default="*"),
        "filter": ConfigKey("mapping"),
        "order": ConfigKey("str"),
        "tables": ConfigKey("list"),
    }
    writer = {
        **_writer_keys(5432, "public"),
        **_SUPABASE_NO_PG_DEFAULTS,
        **_SUPABASE_REST,
        "mode": ConfigKey("str", choices=_WRITE_MODES),
        "write_mode": ConfigKey("str", default="append", choices=_WRITE_MODES),
        "returning": ConfigKey("str", default="minimal"),
        "create_if_missing": ConfigKey("bool", default=False),
        "ddl_channel": ConfigKey("str", default="auto"),
        "prefer": ConfigKey("str", default="return=minimal"),
    }
    return [
        ComponentSpec(
            name="supabase.extractor",
            modes=("read",),
            driver="osiris.drivers.supabase:SupabaseExtractor",
            config=extractor,
            connection_keys=_SUPABASE_KEYS,
            one_of=("table", "query"),
            description="Read a Supabase table: over PostgreSQL when the connection gives its "
            "settings, else over the REST API.",
            example={"connection": "@supabase.main", "table": "orders"},
        ),
        ComponentSpec(
            name="supabase.writer",
            modes=("write",),
            driver="osiris.drivers.supabase:SupabaseWriter",
            config=writer,
            upstream=1,
            connection_keys=_SUPABASE_KEYS,
            description="Write the upstream table to Supabase (PostgreSQL settings, or REST).",
            example={
                "connection": "@supabase.main",
                "table": "orders",
                "write_mode": "upsert",
                "primary_key": ["id"],
            },
        ),
    ]


_HTTP_AUTH = {
    "headers": ConfigKey("mapping", default={}),
    "auth_type": ConfigKey("str", default="none", choices=("none", "bearer", "basic", "api_key")),
    "auth_token": ConfigKey("str"),
    "auth_username": ConfigKey("str"),
    "auth_header_name": ConfigKey("str", default="X-API-Key"),
}
_GRAPHQL_CONNECTION_KEYS = ("endpoint", *_HTTP_AUTH, "timeout", "validate_ssl")

GRAPHQL = ComponentSpec(
    name="graphql.extractor",
    modes=("read",),
    driver="osiris.drivers.graphql_extractor:GraphqlExtractor",
    config={
        "connection": ConfigKey("connection"),
        "endpoint": ConfigKey("str"),
        "query": ConfigKey("str", required=True),
        "variables": ConfigKey("mapping", default={}),
        **_HTTP_AUTH,
        "timeout": ConfigKey("int", default=30),
        "max_retries": ConfigKey("int", default=3),
        "retry_delay": ConfigKey("number", default=1.0),
        "pagination_enabled": ConfigKey("bool", default=False),
        "pagination_path": ConfigKey("str", default="data.pageInfo"),
        "pagination_cursor_field": ConfigKey("str", default="endCursor"),
        "pagination_has_next_field": ConfigKey("str", default="hasNextPage"),
        "pagination_variable_name": ConfigKey("str", default="after"),
        "max_pages": ConfigKey("int", default=0),
        "data_path": ConfigKey("str", default="data"),
        "flatten_result": ConfigKey("bool", default=True),
        "validate_ssl": ConfigKey("bool", default=True),
    },
    connection_keys=_GRAPHQL_CONNECTION_KEYS,
    settings_required=("endpoint",),
    description="Query a GraphQL API (POST, variables, cursor pagination) into a table.",
    example={
        "endpoint": "https://api.example.com/graphql",
        "query": "query($after: String) { users(first: 100, after: $after) "
        "{ nodes { id name } pageInfo { endCursor hasNextPage } } }",
        "data_path": "data.users.nodes",
        "pagination_enabled": True,
        "pagination_path": "data.users.pageInfo",
    },
)

POSTHOG_DATA_TYPES = ("events", "persons", "sessions", "person_distinct_ids")
POSTHOG = ComponentSpec(
    name="posthog.extractor",
    modes=("read",),
    driver="osiris.drivers.posthog_extractor:PosthogExtractor",
    config={
        "connection": ConfigKey("connection"),
        "api_key": ConfigKey("str"),
        "project_id": ConfigKey("str"),
        "region": ConfigKey("str", default="us", choices=("us", "eu", "self_hosted")),
        "custom_base_url": ConfigKey("str"),
        "data_type": ConfigKey("str", required=True, choices=POSTHOG_DATA_TYPES),
        "event_types": ConfigKey("list"),
        "lookback_window_minutes": ConfigKey("int", default=15),
        "initial_since": ConfigKey("str"),
        "page_size": ConfigKey("int", default=1000),
        "deduplication_enabled": ConfigKey("bool", default=True),
        "timeout": ConfigKey("int", default=30),
        "max_retries": ConfigKey("int", default=3),
    },
    connection_keys=("api_key", "project_id", "region", "custom_base_url"),
    settings_required=("api_key", "project_id"),
    description="Read PostHog events, persons, sessions or distinct ids over its HTTP API.",
    example={"connection": "@posthog.main", "data_type": "events", "event_types": ["$pageview"]},
)

CONNECTOR_SPECS = (*_database_specs(), *_supabase_specs(), GRAPHQL, POSTHOG)

# Fields a connection may hold besides the step keys its components take from it.
CONNECTION_EXTRAS: dict[str, dict[str, ConfigKey]] = {
    "mysql": {
        "type": ConfigKey("str"),
        "charset": ConfigKey("str", default="utf8mb4"),
        "connect_timeout": ConfigKey("int", default=10),
        "read_timeout": ConfigKey("int"),
        "write_timeout": ConfigKey("int"),
        "dsn": ConfigKey("str"),
    },
    "postgres": {
        "type": ConfigKey("str"),
        "sslmode": ConfigKey("str"),
        "connect_timeout": ConfigKey("int", default=10),
        "dsn": ConfigKey("str"),
    },
    "supabase": {
        "type": ConfigKey("str"),
        "sslmode": ConfigKey("str"),
        "connect_timeout": ConfigKey("int", default=10),
        "service_role_key": ConfigKey("str"),
        "anon_key": ConfigKey("str"),
    },
    "filesystem": {"base_dir": ConfigKey("str")},
}
