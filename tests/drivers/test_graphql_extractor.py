"""graphql.extractor against a real HTTP server on 127.0.0.1 and a real in-memory DuckDB."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from osiris.drivers.base import StepResult
from osiris.drivers.http_source import HttpSourceError
from tests.helpers.json_server import JsonServer, Reply, Request, serve_json
from tests.helpers.steps import run_step

TOKEN = "tok-s3cret-123"
USERS = [
    {"id": 1, "name": "Ada", "address": {"city": "London", "geo": {"lat": 51.5}}, "tags": ["a"]},
    {"id": 2, "name": "Alan", "address": {"city": "Wilmslow", "geo": {"lat": 53.3}}, "tags": []},
    {"id": 3, "name": "Grace", "address": {"city": "Arlington", "geo": {"lat": 38.9}}, "tags": []},
    {"id": 4, "name": "Edsger", "address": {"city": "Austin", "geo": {"lat": 30.3}}, "tags": []},
    {"id": 5, "name": "Barbara", "address": {"city": "Boston", "geo": {"lat": 42.4}}, "tags": []},
]


@pytest.fixture
def server() -> Iterator[JsonServer]:
    with serve_json() as state:
        state.respond = lambda request: (200, {"data": {}})
        state.url += "/graphql"
        yield state


def run(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    log: list[str] | None = None,
    **config: Any,
) -> StepResult:
    config.setdefault("query", "query($after: String) { users(after: $after) { id } }")
    config.setdefault("retry_delay", 0.01)
    logger = log.append if log is not None else None
    return run_step("graphql.extractor", config, con, tmp_path, "users", log=logger)


def columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute("DESCRIBE df_users").fetchall()]


def paged_users(request: Request) -> Reply:
    """Two users a page; the cursor is the index of the next user."""
    start = int(request.body["variables"].get("after") or 0)
    nodes = USERS[start : start + 2]
    end = start + len(nodes)
    info = {"endCursor": str(end), "hasNextPage": end < len(USERS)}
    return 200, {"data": {"users": {"nodes": nodes, "pageInfo": info}}}


def test_query_with_variables_and_bearer_flattens_records(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = lambda request: (200, {"data": {"users": USERS[:2]}})
    result = run(
        con,
        tmp_path,
        endpoint=server.url,
        query="query($first: Int) { users(first: $first) { id } }",
        variables={"first": 2},
        auth_type="bearer",
        auth_token=TOKEN,
        data_path="data.users",
    )
    assert (result.rows_in, result.rows_out, result.table) == (2, 2, "df_users")
    assert columns(con) == [
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("address.city", "VARCHAR"),
        ("address.geo.lat", "DOUBLE"),
        ("tags", "VARCHAR"),
    ]
    rows = con.execute('SELECT id, "address.city", tags FROM df_users ORDER BY id').fetchall()
    assert rows == [(1, "London", '["a"]'), (2, "Wilmslow", "[]")]
    (request,) = server.requests
    assert request.body == {
        "query": "query($first: Int) { users(first: $first) { id } }",
        "variables": {"first": 2},
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"


def test_flatten_false_keeps_objects_as_json_text(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = lambda request: (200, {"data": {"users": USERS[:1]}})
    run(con, tmp_path, endpoint=server.url, data_path="data.users", flatten_result=False)
    assert [name for name, _ in columns(con)] == ["id", "name", "address", "tags"]
    (address,) = con.execute("SELECT address FROM df_users").fetchone()
    assert json.loads(address) == {"city": "London", "geo": {"lat": 51.5}}


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        (
            {"auth_type": "basic", "auth_username": "ada", "auth_token": TOKEN},
            "authorization",
            "Basic " + base64.b64encode(f"ada:{TOKEN}".encode()).decode(),
        ),
        (
            {"auth_type": "api_key", "auth_header_name": "X-Shop-Token", "auth_token": TOKEN},
            "x-shop-token",
            TOKEN,
        ),
        ({"headers": {"X-Tenant": "acme"}}, "x-tenant", "acme"),
    ],
)
def test_auth_types_and_custom_headers(
    server: JsonServer,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    auth: dict[str, Any],
    header: str,
    expected: str,
) -> None:
    server.respond = lambda request: (200, {"data": {"users": []}})
    run(con, tmp_path, endpoint=server.url, data_path="data.users", **auth)
    assert server.requests[0].headers[header] == expected


def test_auth_type_without_token_is_refused(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="auth_type bearer needs auth_token"):
        run(con, tmp_path, endpoint=server.url, auth_type="bearer")
    assert server.requests == []


def test_pagination_passes_the_cursor_until_the_last_page(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = paged_users
    result = run(
        con,
        tmp_path,
        endpoint=server.url,
        variables={"first": 2},
        data_path="data.users.nodes",
        pagination_enabled=True,
        pagination_path="data.users.pageInfo",
    )
    assert result.rows_out == 5
    ids = con.execute("SELECT id FROM df_users ORDER BY id").fetchall()
    assert ids == [(1,), (2,), (3,), (4,), (5,)]
    sent = [request.body["variables"] for request in server.requests]
    assert sent == [{"first": 2}, {"first": 2, "after": "2"}, {"first": 2, "after": "4"}]


def test_max_pages_stops_early(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = paged_users
    result = run(
        con,
        tmp_path,
        endpoint=server.url,
        data_path="data.users.nodes",
        pagination_enabled=True,
        pagination_path="data.users.pageInfo",
        max_pages=2,
    )
    assert result.rows_out == 4
    assert len(server.requests) == 2


def test_custom_pagination_fields(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def respond(request: Request) -> Reply:
        page = int(request.body["variables"].get("page") or 0)
        info = {"next": str(page + 1), "more": page < 1}
        return 200, {"data": {"items": [{"page": page}], "meta": info}}

    server.respond = respond
    run(
        con,
        tmp_path,
        endpoint=server.url,
        data_path="data.items",
        pagination_enabled=True,
        pagination_path="data.meta",
        pagination_cursor_field="next",
        pagination_has_next_field="more",
        pagination_variable_name="page",
    )
    assert con.execute("SELECT page FROM df_users ORDER BY 1").fetchall() == [(0,), (1,)]


def test_a_cursor_that_does_not_advance_fails(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    info = {"endCursor": "same", "hasNextPage": True}
    server.respond = lambda request: (200, {"data": {"items": [{"id": 1}], "pageInfo": info}})
    with pytest.raises(HttpSourceError, match="cursor did not advance after page 2"):
        run(con, tmp_path, endpoint=server.url, data_path="data.items", pagination_enabled=True)
    assert len(server.requests) == 2


def test_graphql_errors_fail_with_the_first_message(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    errors = [{"message": "Cannot query field 'emial' on type 'User'."}, {"message": "second"}]
    server.respond = lambda request: (200, {"data": None, "errors": errors})
    with pytest.raises(HttpSourceError) as failure:
        run(con, tmp_path, endpoint=server.url, max_retries=3)
    assert str(failure.value) == (
        f"GraphQL error from {server.url}: Cannot query field 'emial' on type 'User'. (and 1 more)"
    )
    assert len(server.requests) == 1  # a query error is not retried


def test_retries_a_500_then_succeeds(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    replies = iter([(500, {"message": "boom"}), (200, {"data": {"users": USERS}})])
    server.respond = lambda request: next(replies)
    log: list[str] = []
    result = run(
        con,
        tmp_path,
        log,
        endpoint=server.url,
        data_path="data.users",
        max_retries=2,
        auth_type="bearer",
        auth_token=TOKEN,
    )
    assert result.rows_out == 5
    assert len(server.requests) == 2
    assert any("HTTP 500" in line and "retry 1/2" in line for line in log)
    assert not any(TOKEN in line for line in log)


def test_429_is_retried(server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    replies = iter([(429, {"message": "slow down"}), (200, {"data": {"users": USERS[:1]}})])
    server.respond = lambda request: next(replies)
    assert run(con, tmp_path, endpoint=server.url, data_path="data.users").rows_out == 1
    assert len(server.requests) == 2


def test_gives_up_after_max_retries(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = lambda request: (503, b"<html>\n  upstream\n  down\n</html>")
    with pytest.raises(HttpSourceError) as failure:
        run(con, tmp_path, endpoint=server.url, max_retries=2)
    assert str(failure.value) == (
        f"HTTP 503 Service Unavailable from {server.url}: <html> upstream down </html>"
    )
    assert len(server.requests) == 3


def test_401_is_one_line_without_the_token_and_not_retried(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = lambda request: (401, {"errors": [{"message": f"bad token {TOKEN}"}]})
    with pytest.raises(HttpSourceError) as failure:
        run(con, tmp_path, endpoint=server.url + "?key=abc", auth_type="bearer", auth_token=TOKEN)
    assert str(failure.value) == f"HTTP 401 Unauthorized from {server.url}: bad token ***"
    assert len(server.requests) == 1


def test_unreachable_endpoint_is_retried_then_reported(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log: list[str] = []
    with pytest.raises(HttpSourceError, match=f"cannot reach http://127.0.0.1:{port}/graphql"):
        run(con, tmp_path, log, endpoint=f"http://127.0.0.1:{port}/graphql", max_retries=2)
    assert sum("retry" in line for line in log) == 2


@pytest.mark.parametrize(
    ("data_path", "expected"),
    [
        ("data.shop.edges[*].node", [("a",), ("b",)]),
        ("$.data.shop.edges[0].node", [("a",)]),
        ("data.shop.edges[-1].node", [("b",)]),
        ("data.shop.owner", [("Ada",)]),  # a scalar is one row in `value`
    ],
)
def test_data_path_steps(
    server: JsonServer,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    data_path: str,
    expected: list[tuple[Any, ...]],
) -> None:
    edges = [{"node": {"value": "a"}}, {"node": {"value": "b"}}]
    server.respond = lambda request: (200, {"data": {"shop": {"edges": edges, "owner": "Ada"}}})
    run(con, tmp_path, endpoint=server.url, data_path=data_path)
    assert con.execute("SELECT value FROM df_users").fetchall() == expected


def test_invalid_data_path_is_refused(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"invalid path 'data\.\.users'"):
        run(con, tmp_path, endpoint=server.url, data_path="data..users")


@pytest.mark.parametrize("payload", [{"data": {"users": []}}, {"data": {"other": 1}}])
def test_empty_result_still_creates_the_table(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path, payload: dict[str, Any]
) -> None:
    server.respond = lambda request: (200, payload)
    assert run(con, tmp_path, endpoint=server.url, data_path="data.users").rows_out == 0
    assert columns(con) == [("value", "VARCHAR")]
    assert con.execute("SELECT count(*) FROM df_users").fetchone() == (0,)


def test_later_pages_add_columns_and_widen_types(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    pages = [
        [{"id": 1, "score": 1, "ok": True, "note": None}],
        [{"id": 2, "score": 2.5, "ok": "yes", "note": None, "Id": "x"}],
        [{"id": 3, "score": 3, "ok": False, "note": "late", "extra": {"k": 1}}],
    ]

    def respond(request: Request) -> Reply:
        page = int(request.body["variables"].get("after") or 0)
        info = {"endCursor": str(page + 1), "hasNextPage": page + 1 < len(pages)}
        return 200, {"data": {"items": pages[page], "pageInfo": info}}

    server.respond = respond
    result = run(
        con, tmp_path, endpoint=server.url, data_path="data.items", pagination_enabled=True
    )
    assert result.rows_out == 3
    assert columns(con) == [
        ("id", "BIGINT"),
        ("score", "DOUBLE"),
        ("ok", "VARCHAR"),
        ("note", "VARCHAR"),
        ("Id_1", "VARCHAR"),  # DuckDB names ignore case: `Id` cannot share `id`'s column
        ("extra.k", "BIGINT"),
    ]
    assert con.execute("SELECT * FROM df_users ORDER BY id").fetchall() == [
        (1, 1.0, "true", None, None, None),
        (2, 2.5, "yes", None, "x", None),
        (3, 3.0, "false", "late", None, 1),
    ]
