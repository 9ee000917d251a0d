"""What the HTTP extractors (`graphql.extractor`, `posthog.extractor`) share: JSON POSTs
with retries and one-line errors (`JsonClient`), and a loader that streams pages of JSON
records into the step's DuckDB table (`RecordLoader`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import pyarrow as pa

from osiris.core.data_plane import arrow_exchange
from osiris.drivers.base import quote

_MAX_WAIT = 60.0  # seconds: no back-off or Retry-After makes a step sleep longer per try
_MESSAGE_CHARS = 300
_BATCH_VIEW = "__osiris_records"
_INT64 = (-(2**63), 2**63 - 1)
# Failures a second try may not meet: timeouts, refused or dropped connections.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_ARROW = {"BOOLEAN": pa.bool_(), "BIGINT": pa.int64(), "DOUBLE": pa.float64()}

Log = Callable[[str], None] | None


class HttpSourceError(RuntimeError):
    """An HTTP source failed: a one-line message naming the status and the server's words."""


def safe_url(url: str | httpx.URL) -> str:
    """`url` without credentials, query or fragment: fit for logs and error messages."""
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or not parsed.host:
        return "the endpoint"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host  # IPv6
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


class JsonClient:
    """POSTs JSON and returns the decoded reply, retrying connection errors, 5xx and 429
    with exponential back-off; every other failure is one `HttpSourceError`."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: float,
        max_retries: int,
        retry_delay: float,
        verify: bool = True,
        secrets: Iterable[str] = (),
        log: Log = None,
    ) -> None:
        self.client = httpx.Client(headers=dict(headers), timeout=timeout, verify=verify)
        self.max_retries = max(0, int(max_retries))
        self.retry_delay = max(0.0, float(retry_delay))
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.log = log
        self.requests = 0

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def post(self, url: str, payload: Any) -> Any:
        """The JSON reply to POSTing `payload` to `url`."""
        attempt = 0
        while True:
            self.requests += 1
            may_retry = attempt < self.max_retries
            try:
                response = self.client.post(url, json=payload)
            except _TRANSIENT as exc:
                if not may_retry:
                    raise self._error(f"cannot reach {safe_url(url)}: {_describe(exc)}") from exc
                self._wait(attempt, None, f"{_describe(exc)} from {safe_url(url)}")
            except httpx.HTTPError as exc:  # a bad URL or scheme: retrying cannot help
                raise self._error(f"request to {safe_url(url)} failed: {_describe(exc)}") from exc
            else:
                status = response.status_code
                if status < 300:
                    return self._json(response)
                # Redirects and other 4xx fail at once: a second try would get the same.
                if not may_retry or not (status == 429 or status >= 500):
                    raise self._error(_status_message(response))
                self._wait(attempt, response, f"HTTP {status} from {safe_url(url)}")
            attempt += 1

    def scrub(self, text: str) -> str:
        """`text` with every secret this client sends replaced by `***`."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, message: str) -> HttpSourceError:
        return HttpSourceError(self.scrub(" ".join(message.split())))

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            where = safe_url(response.request.url)
            raise self._error(
                f"HTTP {response.status_code} from {where} is not JSON: {_clip(response.text)}"
            ) from None

    def _wait(self, attempt: int, response: httpx.Response | None, what: str) -> None:
        # Retry-After is the server's own answer to "when"; otherwise back off exponentially.
        wait = _retry_after(response)
        if wait is None:
            wait = self.retry_delay * 2**attempt
        wait = min(wait, _MAX_WAIT)
        if self.log:
            retry = f"retry {attempt + 1}/{self.max_retries}"
            self.log(self.scrub(f"{what}; {retry} in {wait:.2f}s"))
        time.sleep(wait)


def _status_message(response: httpx.Response) -> str:
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    where = safe_url(response.request.url)
    return f"HTTP {response.status_code}{reason} from {where}: {server_message(response)}"


def server_message(response: httpx.Response) -> str:
    """The server's own words about a failed request: a JSON error field, else its text."""
    try:
        body = response.json()
    except ValueError:
        return _clip(response.text) or "(empty response)"
    return _clip(_message_of(body) or json.dumps(body, ensure_ascii=False))


def _message_of(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return _message_of(body[0]) if body else None
    if not isinstance(body, dict):
        return None
    for key in ("errors", "error", "message", "detail", "error_description"):
        found = _message_of(body.get(key))
        if found:
            return found
    return None


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: fall back to the back-off
        return None


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."


class RecordLoader:
    """Appends pages of JSON records (dicts) to `table`, one page in memory at a time.

    Columns come in the order they first appear; a later page may add columns (ALTER TABLE
    ADD COLUMN, earlier rows NULL). Each column's type follows its values: BOOLEAN, BIGINT,
    DOUBLE (integers mixed with decimals) or VARCHAR (text, lists and objects as JSON text,
    and any mix of kinds, where earlier values become their text). A column that has held
    only nulls stays VARCHAR. An empty result is a table with one VARCHAR column `value`.
    """

    def __init__(self, connection: Any, table: str) -> None:
        arrow_exchange()
        self.connection = connection
        self.table = table
        self.rows = 0
        self.types: dict[str, str | None] = {}  # column -> DuckDB type; None: only nulls yet
        self._names: dict[str, str] = {}  # record key -> column (DuckDB names ignore case)

    def append(self, records: list[dict[str, Any]]) -> None:
        """Insert one page of records."""
        if not records:
            return
        values = _columns_of(records)
        if not values:  # records without keys still count as rows
            values = {next(iter(self._names), "value"): [None] * len(records)}
        page = {self._column(key): (_kind_of(v), v) for key, v in values.items()}
        self._evolve({name: kind for name, (kind, _) in page.items()})
        arrays = [_arrow(kind, v) for kind, v in page.values()]
        self.connection.register(_BATCH_VIEW, pa.Table.from_arrays(arrays, names=list(page)))
        casts = ", ".join(f"CAST({quote(n)} AS {self._stored(n)}) AS {quote(n)}" for n in page)
        try:
            self.connection.execute(
                f"INSERT INTO {quote(self.table)} BY NAME SELECT {casts} FROM {_BATCH_VIEW}"
            )
        finally:
            self.connection.unregister(_BATCH_VIEW)
        self.rows += len(records)

    def finish(self) -> None:
        """Create the table if no record came."""
        if not self.types:
            self.connection.execute(f"CREATE OR REPLACE TABLE {quote(self.table)} (value VARCHAR)")

    def _stored(self, name: str) -> str:
        return self.types[name] or "VARCHAR"

    def _column(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            taken = {n.lower() for n in self._names.values()}
            name, suffix = key or "value", 0
            while name.lower() in taken:
                suffix += 1
                name = f"{key or 'value'}_{suffix}"
            self._names[key] = name
        return name

    def _evolve(self, kinds: dict[str, str | None]) -> None:
        """Create the table from the first page; then add new columns and widen types."""
        created = bool(self.types)
        table = quote(self.table)
        for name, kind in kinds.items():
            if name not in self.types:
                self.types[name] = kind
                if created:
                    self.connection.execute(
                        f"ALTER TABLE {table} ADD COLUMN {quote(name)} {self._stored(name)}"
                    )
                continue
            merged = _merge(self.types[name], kind)
            if merged != self.types[name]:
                self.types[name] = merged
                self.connection.execute(f"ALTER TABLE {table} ALTER {quote(name)} TYPE {merged}")
        if not created:
            body = ", ".join(f"{quote(n)} {self._stored(n)}" for n in self.types)
            self.connection.execute(f"CREATE OR REPLACE TABLE {table} ({body})")


def _columns_of(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Column-wise values of `records`, None where a record lacks the key."""
    columns: dict[str, list[Any]] = {}
    for row, record in enumerate(records):
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * len(records)
            column[row] = value
    return columns


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT" if _INT64[0] <= value <= _INT64[1] else "VARCHAR"
    return "DOUBLE" if isinstance(value, float) else "VARCHAR"


def _kind_of(values: list[Any]) -> str | None:
    kind: str | None = None
    for value in values:
        if value is not None:
            kind = _merge(kind, _kind(value))
    return kind


def _merge(old: str | None, new: str | None) -> str | None:
    if new is None or new == old:
        return old
    if old is None:
        return new
    return "DOUBLE" if {old, new} == {"BIGINT", "DOUBLE"} else "VARCHAR"


def _arrow(kind: str | None, values: list[Any]) -> pa.Array:
    if kind is None:
        return pa.nulls(len(values))
    if kind in _ARROW:
        return pa.array(values, type=_ARROW[kind])
    return pa.array([_text(v) for v in values], type=pa.string())


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
