"""posthog.extractor against a real HTTP server speaking PostHog's HogQL query API
(a tiny evaluator of the queries the driver sends) and a real in-memory DuckDB."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from osiris.drivers import posthog_extractor
from osiris.drivers.base import StepResult
from osiris.drivers.http_source import HttpSourceError
from tests.helpers.json_server import JsonServer, Reply, Request, serve_json
from tests.helpers.steps import run_step

API_KEY = "phx_personal_key_123"
PROJECT = "42"
EVENT_COLUMNS = ["uuid", "event", "timestamp", "distinct_id", "person_id", "properties"]
# 250 events, five per second with microseconds, so seek keys fall inside a second.
EVENTS = [
    {
        "uuid": f"0190-{n:04d}",
        "event": ("$pageview", "signup", "it's \\ odd")[n % 3],
        "timestamp": f"2025-01-01T10:{n // 300:02d}:{n // 5 % 60:02d}.{n % 5 * 1000 + 1:06d}Z",
        "distinct_id": f"user-{n % 7}",
        "person_id": f"person-{n % 7}",
        # HogQL sends properties as JSON text.
        "properties": json.dumps({"$browser": "Firefox", "n": n, "nested": {"k": [n]}}),
    }
    for n in range(250)
]
SEEK = re.compile(
    r"\((\S+) > toDateTime\('([^']*)'\) OR \(\S+ = toDateTime\('[^']*'\) AND (\S+) > '([^']*)'\)\)"
)


def sql(request: Request) -> str:
    return request.body["query"]["query"]


@pytest.fixture
def server() -> Iterator[JsonServer]:
    with serve_json() as state:
        state.respond = lambda request: (200, {"results": []}, {})
        yield state


def run(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, server: JsonServer, **config: Any
) -> StepResult:
    config = {
        "api_key": API_KEY,
        "project_id": PROJECT,
        "region": "self_hosted",
        "custom_base_url": server.url + "/",
        "page_size": 100,
        **config,
    }
    return run_step("posthog.extractor", config, con, tmp_path, "ph")


def hogql(rows: list[dict[str, Any]], columns: list[str], overlap: bool = False):
    """A responder evaluating the driver's paging: seek (or OFFSET), event filter, LIMIT.
    `overlap` re-sends the seek row itself, as a sloppy server would."""

    def respond(request: Request) -> Reply:
        query = sql(request)
        selected = rows
        if match := re.search(r"event IN \(([^)]*)\)", query):
            names = [re.sub(r"\\(.)", r"\1", n) for n in re.findall(r"'((?:\\.|[^'])*)'", match[1])]
            selected = [row for row in selected if row["event"] in names]
        if match := SEEK.search(query):
            time_column, ts, id_column, key = match.groups()
            seen = (ts, key)
            keyed = [((row[time_column], row[id_column]), row) for row in selected]
            selected = [row for k, row in keyed if k > seen or (overlap and k == seen)]
        offset = int(match[1]) if (match := re.search(r"OFFSET (\d+)", query)) else 0
        limit = int(re.search(r"LIMIT (\d+)", query)[1])
        page = selected[offset : offset + limit]
        return 200, {"columns": columns, "results": [[r[c] for c in columns] for r in page]}, {}

    return respond


def test_events_page_by_seek_and_flatten_properties(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = hogql(EVENTS, EVENT_COLUMNS)
    result = run(con, tmp_path, server, data_type="events", initial_since="2025-01-01T09:00:00Z")
    assert (result.rows_in, result.rows_out, result.table) == (250, 250, "df_ph")
    assert [row[0] for row in con.execute("DESCRIBE df_ph").fetchall()] == [
        "uuid",
        "event",
        "timestamp",
        "distinct_id",
        "person_id",
        "properties_$browser",
        "properties_n",
        "properties_nested",
    ]
    totals = con.execute('SELECT count(DISTINCT uuid), sum("properties_n") FROM df_ph')
    assert totals.fetchone() == (250, sum(range(250)))
    nested = con.execute("SELECT properties_nested FROM df_ph WHERE uuid = '0190-0007'")
    assert nested.fetchone() == ('{"k": [7]}',)
    assert len(server.requests) == 3
    first, second, _ = server.requests
    assert first.path == f"/api/projects/{PROJECT}/query/"
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert first.body["query"]["kind"] == "HogQLQuery"
    assert sql(first).startswith(
        "SELECT uuid, event, timestamp, distinct_id, person_id, properties FROM events "
        "WHERE timestamp >= toDateTime('2025-01-01 09:00:00') AND timestamp < toDateTime('"
    )
    assert sql(first).endswith("ORDER BY timestamp ASC, uuid ASC LIMIT 100")
    last = EVENTS[99]
    assert (
        f"(timestamp > toDateTime('{last['timestamp']}') OR "
        f"(timestamp = toDateTime('{last['timestamp']}') AND uuid > '{last['uuid']}'))"
    ) in sql(second)


def test_event_types_are_filtered_and_escaped(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    server.respond = hogql(EVENTS, EVENT_COLUMNS)
    result = run(con, tmp_path, server, data_type="events", event_types=["signup", "it's \\ odd"])
    assert "event IN ('signup', 'it\\'s \\\\ odd')" in sql(server.requests[0])
    assert result.rows_out == 166
    assert con.execute("SELECT DISTINCT event FROM df_ph ORDER BY 1").fetchall() == [
        ("it's \\ odd",),
        ("signup",),
    ]


@pytest.mark.parametrize(("dedup", "rows_out"), [(True, 250), (False, 252)])
def test_duplicate_events_are_dropped_unless_disabled(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path, dedup: bool, rows_out: int
) -> None:
    server.respond = hogql(EVENTS, EVENT_COLUMNS, overlap=True)
    result = run(con, tmp_path, server, data_type="events", deduplication_enabled=dedup)
    assert (result.rows_in, result.rows_out) == (252, rows_out)


def test_persons_page_by_created_at_and_spread_person_properties(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    persons = [
        {
            "id": f"p-{n:03d}",
            "created_at": f"2024-06-01T00:00:{n % 60:02d}Z" if n < 60 else "2024-06-01T00:01:00Z",
            "properties": {"email": f"u{n}@example.com", "plan": None if n % 2 else "pro"},
            "is_identified": n % 2 == 0,
        }
        for n in range(120)
    ]
    persons.sort(key=lambda p: (p["created_at"], p["id"]))
    server.respond = hogql(persons, ["id", "created_at", "properties", "is_identified"])
    result = run(con, tmp_path, server, data_type="persons", initial_since="2030-01-01")
    assert result.rows_out == 120
    assert con.execute("DESCRIBE df_ph").fetchall()[-2:] == [
        ("person_properties_email", "VARCHAR", "YES", None, None, None),
        ("person_properties_plan", "VARCHAR", "YES", None, None, None),
    ]
    first, second = server.requests
    # Persons have no time window (as upstream): initial_since does not filter them.
    assert sql(first) == (
        "SELECT id, created_at, properties, is_identified FROM persons "
        "ORDER BY created_at ASC, id ASC LIMIT 100"
    )
    assert "created_at > toDateTime('2024-06-01T00:01:00Z')" in sql(second)


def test_sessions_use_their_start_timestamp(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    sessions = [
        {"session_id": f"s{n:03d}", "$start_timestamp": "2025-02-01 00:00:00", "$pageview_count": n}
        for n in range(100)
    ]
    server.respond = hogql(sessions, ["session_id", "$start_timestamp", "$pageview_count"])
    result = run(con, tmp_path, server, data_type="sessions", initial_since="2025-02-01")
    assert result.rows_out == 100
    first, second = server.requests  # a full page asks once more; the empty reply ends it
    assert sql(first).startswith(
        "SELECT * FROM sessions WHERE $start_timestamp >= toDateTime('2025-02-01 00:00:00')"
    )
    assert "$start_timestamp = toDateTime('2025-02-01 00:00:00') AND session_id > 's099'" in (
        sql(second)
    )
    assert con.execute('SELECT max("$pageview_count") FROM df_ph').fetchone() == (99,)


def test_person_distinct_ids_page_by_offset(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ids = [{"distinct_id": f"d{n:03d}", "person_id": f"p{n // 2:03d}"} for n in range(150)]
    server.respond = hogql(ids, ["distinct_id", "person_id"])
    assert run(con, tmp_path, server, data_type="person_distinct_ids").rows_out == 150
    assert [sql(request) for request in server.requests] == [
        "SELECT distinct_id, person_id FROM person_distinct_ids "
        "ORDER BY person_id ASC, distinct_id ASC LIMIT 100",
        "SELECT distinct_id, person_id FROM person_distinct_ids "
        "ORDER BY person_id ASC, distinct_id ASC LIMIT 100 OFFSET 100",
    ]


def test_no_rows_still_creates_the_table(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    assert run(con, tmp_path, server, data_type="events").rows_out == 0
    assert con.execute("DESCRIBE df_ph").fetchall()[0][:2] == ("value", "VARCHAR")


def test_401_is_one_line_without_the_key(
    server: JsonServer, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    detail = {"type": "authentication_error", "detail": f"Invalid key {API_KEY}."}
    server.respond = lambda request: (401, detail, {})
    with pytest.raises(HttpSourceError) as failure:
        run(con, tmp_path, server, data_type="events")
    assert str(failure.value) == (
        f"HTTP 401 Unauthorized from {server.url}/api/projects/{PROJECT}/query/: Invalid key ***."
    )
    assert len(server.requests) == 1


def test_server_errors_are_retried(
    server: JsonServer,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(posthog_extractor, "RETRY_DELAY", 0.01)
    ok = hogql(EVENTS[:3], EVENT_COLUMNS)
    replies = iter([(500, {"detail": "boom"}, {}), (429, {}, {"Retry-After": "0"})])
    server.respond = lambda request: next(replies, None) or ok(request)
    assert run(con, tmp_path, server, data_type="events", max_retries=2).rows_out == 3
    assert len(server.requests) == 3


def test_gives_up_after_max_retries(
    server: JsonServer,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(posthog_extractor, "RETRY_DELAY", 0.01)
    server.respond = lambda request: (502, {"detail": "bad gateway"}, {})
    with pytest.raises(HttpSourceError, match=r"HTTP 502 Bad Gateway from .*: bad gateway$"):
        run(con, tmp_path, server, data_type="events", max_retries=1)
    assert len(server.requests) == 2


def test_base_url_per_region() -> None:
    assert posthog_extractor.base_url({"region": "us"}) == "https://us.posthog.com"
    assert posthog_extractor.base_url({"region": "eu"}) == "https://eu.posthog.com"
    config = {"region": "self_hosted", "custom_base_url": "https://ph.example.com/"}
    assert posthog_extractor.base_url(config) == "https://ph.example.com"
    with pytest.raises(ValueError, match="self_hosted needs custom_base_url"):
        posthog_extractor.base_url({"region": "self_hosted"})


def test_window_defaults_to_thirty_days_and_reads_zones() -> None:
    now = datetime(2025, 3, 31, 12, 0, 0, 500_000, tzinfo=timezone.utc)
    assert posthog_extractor.window(None, now) == ("2025-03-01 12:00:00", "2025-03-31 12:00:00")
    since, _ = posthog_extractor.window("2025-03-01T12:00:00+02:00", now)
    assert since == "2025-03-01 10:00:00"
    with pytest.raises(ValueError, match="initial_since 'yesterday' is not an ISO 8601"):
        posthog_extractor.window("yesterday", now)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"page_size": 50}, "page_size must be 100-10000, got 50"),
        ({"event_types": ["  "]}, "event_types must be non-empty strings"),
        ({"api_key": ""}, "needs api_key and project_id"),
    ],
)
def test_bad_settings_are_refused_before_any_request(
    server: JsonServer,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    config: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        run(con, tmp_path, server, data_type="events", **config)
    assert server.requests == []
