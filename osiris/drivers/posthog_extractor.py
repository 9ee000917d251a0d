"""`posthog.extractor`: PostHog events, persons, sessions or person_distinct_ids through
its HogQL query API (POST /api/projects/<project_id>/query/), as upstream reads them.

Pages are HogQL queries of `page_size` rows. Events, persons and sessions page by seek
(`WHERE (ts > last_ts OR (ts = last_ts AND id > last_id)) ORDER BY ts, id`), which stays
fast deep into a table; person_distinct_ids has no timestamp and pages by OFFSET. A short
page is the last. Events and sessions are read from `initial_since` (default: 30 days
ago) until now. Nothing is remembered between runs, so `lookback_window_minutes` (the
overlap upstream re-reads behind its saved high-water mark) has nothing to apply to.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote as quote_path

from osiris.drivers.base import StepContext, StepResult, table_name
from osiris.drivers.http_source import HttpSourceError, JsonClient, RecordLoader, safe_url

REGIONS = {"us": "https://us.posthog.com", "eu": "https://eu.posthog.com"}
RETRY_DELAY = 1.0  # seconds before the first retry; doubles each time (upstream's back-off)
PAGE_SIZES = (100, 10_000)  # upstream's bounds
DEFAULT_WINDOW = timedelta(days=30)
RECENT_IDS = 10_000  # event uuids remembered for deduplication, as upstream keeps


@dataclass(frozen=True)
class Dataset:
    """How one data_type is read: its HogQL SELECT, order and paging."""

    select: str
    source: str
    order: tuple[str, str]  # (timestamp, id) for seek paging; any unique order for OFFSET
    window: str | None = None  # the timestamp column limited to [since, until)
    seek: bool = True
    properties_prefix: str | None = None  # `properties` object -> <prefix><key> columns


DATASETS = {
    "events": Dataset(
        "uuid, event, timestamp, distinct_id, person_id, properties",
        "events",
        ("timestamp", "uuid"),
        window="timestamp",
        properties_prefix="properties_",
    ),
    "persons": Dataset(
        "id, created_at, properties, is_identified",
        "persons",
        ("created_at", "id"),
        properties_prefix="person_properties_",
    ),
    "sessions": Dataset("*", "sessions", ("$start_timestamp", "session_id"), "$start_timestamp"),
    "person_distinct_ids": Dataset(
        "distinct_id, person_id", "person_distinct_ids", ("person_id", "distinct_id"), seek=False
    ),
}


class PosthogExtractor:
    """Pages through one PostHog data_type and loads it into `df_<step_id>`."""

    def run(self, ctx: StepContext) -> StepResult:
        config = ctx.config
        api_key, project_id = config.get("api_key"), config.get("project_id")
        if not api_key or not project_id:
            raise ValueError("posthog.extractor needs api_key and project_id")
        query = hogql_query(config)
        url = f"{base_url(config)}/api/projects/{quote_path(str(project_id), safe='')}/query/"
        if ctx.log:
            ctx.log(
                f"step {ctx.step_id}: reading PostHog {config['data_type']} from {safe_url(url)}"
            )
        recent = RecentIds(RECENT_IDS) if config.get("deduplication_enabled", True) else None
        loader = RecordLoader(ctx.connection, table_name(ctx.step_id))
        read = 0
        with JsonClient(
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=float(config.get("timeout") or 30),
            max_retries=int(config.get("max_retries") or 0),
            retry_delay=RETRY_DELAY,
            secrets=[str(api_key)],
            log=ctx.log,
        ) as client:
            for rows in _pages(client, url, query):
                read += len(rows)
                fresh = [row for row in rows if recent is None or recent.add(row.get("uuid"))]
                loader.append([flatten(row, query.dataset) for row in fresh])
        loader.finish()
        if ctx.log:
            dropped = f", {read - loader.rows} duplicate(s) dropped" if read != loader.rows else ""
            ctx.log(
                f"step {ctx.step_id}: {loader.rows} rows in {client.requests} request(s){dropped}"
            )
        return StepResult(rows_in=read, rows_out=loader.rows, table=loader.table)


def hogql_query(config: dict[str, Any]) -> HogqlQuery:
    """The paged query of the step's data_type, page_size, initial_since and event_types."""
    data_type = str(config.get("data_type") or "")
    if data_type not in DATASETS:
        raise ValueError(f"unknown data_type '{data_type}' (choose {', '.join(DATASETS)})")
    page_size = int(config.get("page_size") or 1000)
    if not PAGE_SIZES[0] <= page_size <= PAGE_SIZES[1]:
        raise ValueError(f"page_size must be {PAGE_SIZES[0]}-{PAGE_SIZES[1]}, got {page_size}")
    return HogqlQuery(
        DATASETS[data_type],
        page_size,
        window(config.get("initial_since")),
        event_filter(config.get("event_types")) if data_type == "events" else "",
    )


def base_url(config: dict[str, Any]) -> str:
    """The PostHog host of `region`; self_hosted takes `custom_base_url`."""
    region = config.get("region") or "us"
    if region == "self_hosted":
        if not config.get("custom_base_url"):
            raise ValueError("region self_hosted needs custom_base_url")
        return str(config["custom_base_url"]).rstrip("/")
    if region not in REGIONS:
        raise ValueError(f"unknown region '{region}' (choose us, eu or self_hosted)")
    return REGIONS[region]


def window(initial_since: str | None, now: datetime | None = None) -> tuple[str, str]:
    """[since, until) in UTC as HogQL datetimes: `initial_since` (or 30 days ago) to now."""
    until = now or datetime.now(timezone.utc)
    since = _parse_time(initial_since) if initial_since else until - DEFAULT_WINDOW
    return _hogql_time(since), _hogql_time(until)


def event_filter(event_types: list[str] | None) -> str:
    """`event IN ('a', 'b')` for the chosen event types, or "" for all events."""
    if not event_types:
        return ""
    if any(not isinstance(t, str) or not t.strip() for t in event_types):
        raise ValueError("event_types must be non-empty strings")
    return f"event IN ({', '.join(hogql_string(t) for t in event_types)})"


def hogql_string(value: str) -> str:
    """A HogQL string literal: backslashes and quotes escaped, so values cannot inject."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class HogqlQuery:
    """The SELECT of one page, given where the previous page ended."""

    dataset: Dataset
    page_size: int
    window: tuple[str, str]
    event_filter: str = ""

    def sql(self, after: tuple[str, str] | None = None, offset: int = 0) -> str:
        ds = self.dataset
        time_column, id_column = ds.order
        where = []
        if ds.window:
            since, until = (hogql_string(t) for t in self.window)
            where += [f"{ds.window} >= toDateTime({since})", f"{ds.window} < toDateTime({until})"]
        if self.event_filter:
            where.append(self.event_filter)
        if after:
            # The full timestamp, not upstream's whole seconds: HogQL's toDateTime keeps
            # microseconds, and a truncated seek re-reads (or loops on) one busy second.
            ts, key = (hogql_string(v) for v in after)
            where.append(
                f"({time_column} > toDateTime({ts}) OR "
                f"({time_column} = toDateTime({ts}) AND {id_column} > {key}))"
            )
        sql = f"SELECT {ds.select} FROM {ds.source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {time_column} ASC, {id_column} ASC LIMIT {self.page_size}"
        return sql + (f" OFFSET {offset}" if offset else "")


def _pages(client: JsonClient, url: str, query: HogqlQuery) -> Iterator[list[dict[str, Any]]]:
    """Each page's rows as dicts (PostHog sends `columns` and `results` as lists)."""
    after: tuple[str, str] | None = None
    offset = 0
    while True:
        sql = query.sql(after, offset)
        body = client.post(url, {"query": {"kind": "HogQLQuery", "query": sql}})
        if not isinstance(body, dict):
            raise HttpSourceError(f"PostHog replied with JSON {type(body).__name__}, not an object")
        columns = body.get("columns") or []
        rows = [dict(zip(columns, row, strict=False)) for row in body.get("results") or []]
        if rows:
            yield rows
        if len(rows) < query.page_size:
            return
        if query.dataset.seek:
            after = _seek_key(rows[-1], query.dataset, after)
        else:
            offset += len(rows)


def _seek_key(
    row: dict[str, Any], dataset: Dataset, previous: tuple[str, str] | None
) -> tuple[str, str]:
    time_column, id_column = dataset.order
    if row.get(time_column) is None or row.get(id_column) is None:
        raise HttpSourceError(f"PostHog rows lack {time_column} or {id_column}: cannot page")
    key = (str(row[time_column]), str(row[id_column]))
    if key == previous:  # the same page again would loop forever
        raise HttpSourceError(f"PostHog paging did not advance past {time_column} {key[0]}")
    return key


def flatten(row: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
    """A row with its `properties` object spread into `<prefix><key>` columns."""
    prefix = dataset.properties_prefix
    if prefix is None or "properties" not in row:
        return row
    flat = {key: value for key, value in row.items() if key != "properties"}
    properties = row["properties"]
    if isinstance(properties, str):  # HogQL sends the properties object as JSON text
        try:
            properties = json.loads(properties)
        except ValueError:
            properties = None
    if isinstance(properties, dict):
        flat.update({f"{prefix}{key}": value for key, value in properties.items()})
    return flat


class RecentIds:
    """The last `size` ids seen: `add` is False for an id already among them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._order: deque[str] = deque()
        self._seen: set[str] = set()

    def add(self, key: Any) -> bool:
        if not key:  # rows without a uuid (persons, sessions) are never duplicates
            return True
        if key in self._seen:
            return False
        self._order.append(key)
        self._seen.add(key)
        if len(self._order) > self.size:
            self._seen.discard(self._order.popleft())
        return True


def _parse_time(text: str) -> datetime:
    """An ISO 8601 timestamp in UTC; one without a zone is UTC already."""
    try:
        # Python 3.10's fromisoformat does not read a trailing Z.
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"initial_since '{text}' is not an ISO 8601 timestamp") from None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _hogql_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
