"""`graphql.extractor`: POST a GraphQL query (with variables) and load the records found at
`data_path` into the step's table, page by page when cursor pagination is on.

Paths (`data_path`, `pagination_path`) are dotted keys with optional list steps, as in
upstream's JSONPath use: `data.users.nodes`, `$.data.items[0]`, `data.edges[*].node`,
`data.list[-1]`. A path matching nothing gives no records; a list gives one record per
item, an object one record, a scalar one record in a column `value`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

from osiris.drivers.base import StepContext, StepResult, table_name
from osiris.drivers.http_source import HttpSourceError, JsonClient, RecordLoader, safe_url

Step = str | int | slice  # a key, a list index, or [*] (every item)
Path = tuple[Step, ...]

# Upstream flattens with pandas.json_normalize, whose separator is ".": {"a": {"b": 1}} -> a.b
SEPARATOR = "."
_PART = re.compile(r"([^\[\]]*)((?:\[(?:\*|-?\d+)\])*)")
_INDEX = re.compile(r"\[(\*|-?\d+)\]")
# Custom headers whose values are kept out of error messages (upstream masks them too).
_SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie|session", re.IGNORECASE)


class GraphqlExtractor:
    """Runs the step's GraphQL query and loads the records into `df_<step_id>`."""

    def run(self, ctx: StepContext) -> StepResult:
        config = ctx.config
        endpoint = config.get("endpoint")
        if not endpoint or not config.get("query"):
            raise ValueError("graphql.extractor needs endpoint and query")
        data_path = parse_path(config.get("data_path") or "")
        flatten = bool(config.get("flatten_result", True))
        headers = _headers(config)
        loader = RecordLoader(ctx.connection, table_name(ctx.step_id))
        if ctx.log:
            ctx.log(f"step {ctx.step_id}: querying {safe_url(endpoint)}")
        with JsonClient(
            headers=headers,
            timeout=float(config.get("timeout") or 30),
            max_retries=int(config.get("max_retries") or 0),
            retry_delay=float(config.get("retry_delay") or 0),
            verify=bool(config.get("validate_ssl", True)),
            secrets=_secrets(config, headers),
            log=ctx.log,
        ) as client:
            pages = 0
            for body in _responses(client, str(endpoint), config):
                pages += 1
                loader.append([_record(item, flatten) for item in _items(body, data_path)])
        loader.finish()
        if ctx.log:
            ctx.log(
                f"step {ctx.step_id}: {loader.rows} rows from {pages} page(s) "
                f"in {client.requests} request(s)"
            )
        return StepResult(rows_in=loader.rows, rows_out=loader.rows, table=loader.table)


def _headers(config: dict[str, Any]) -> dict[str, str]:
    """Auth headers, then the configured headers (which win, as upstream's did)."""
    headers = _auth_headers(config)
    headers.update({str(k): str(v) for k, v in (config.get("headers") or {}).items()})
    return headers


def _auth_headers(config: dict[str, Any]) -> dict[str, str]:
    """The header of `auth_type` none/bearer/basic/api_key; basic's password is auth_token."""
    auth_type = str(config.get("auth_type") or "none")
    token = config.get("auth_token")
    if auth_type == "none":
        return {}
    if not token:
        raise ValueError(f"auth_type {auth_type} needs auth_token")
    if auth_type == "bearer":
        return {"Authorization": f"Bearer {token}"}
    if auth_type == "basic":
        if not config.get("auth_username"):
            raise ValueError("auth_type basic needs auth_username")
        pair = f"{config['auth_username']}:{token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if auth_type == "api_key":
        return {str(config.get("auth_header_name") or "X-API-Key"): str(token)}
    raise ValueError(f"unknown auth_type '{auth_type}' (choose none, bearer, basic or api_key)")


def _secrets(config: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """What an error message must not quote: the token and sensitive-looking header values."""
    sensitive = [value for name, value in headers.items() if _SENSITIVE_HEADER.search(name)]
    return [str(config.get("auth_token") or ""), *sensitive]


def _responses(client: JsonClient, endpoint: str, config: dict[str, Any]) -> Iterator[Any]:
    """Each page's response body: one without pagination, else until the server says
    there is no next page or `max_pages` (> 0) pages are in."""
    variables = dict(config.get("variables") or {})
    paginate = bool(config.get("pagination_enabled"))
    page_path = parse_path(config.get("pagination_path") or "") if paginate else ()
    max_pages = int(config.get("max_pages") or 0) if paginate else 1
    variable = str(config.get("pagination_variable_name") or "after")
    pages = 0
    while True:
        body = client.post(endpoint, {"query": config["query"], "variables": variables})
        _raise_graphql_errors(body, client, endpoint)
        pages += 1
        yield body
        if not paginate or (max_pages and pages >= max_pages):
            return
        cursor = _next_cursor(body, page_path, config)
        if cursor is None:
            return
        if cursor == variables.get(variable):  # the same page again would loop forever
            raise HttpSourceError(f"pagination cursor did not advance after page {pages}")
        variables[variable] = cursor


def _raise_graphql_errors(body: Any, client: JsonClient, endpoint: str) -> None:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return
    errors = errors if isinstance(errors, list) else [errors]
    first = errors[0]
    message = first.get("message") if isinstance(first, dict) else None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    text = " ".join(str(message or first).split())
    raise HttpSourceError(client.scrub(f"GraphQL error from {safe_url(endpoint)}: {text}{more}"))


def _next_cursor(body: Any, page_path: Path, config: dict[str, Any]) -> Any:
    """The cursor of the next page, or None when there is none."""
    info = extract(body, page_path)
    if not isinstance(info, dict):
        return None
    if not info.get(config.get("pagination_has_next_field") or "hasNextPage"):
        return None
    return info.get(config.get("pagination_cursor_field") or "endCursor") or None


def _items(body: Any, data_path: Path) -> list[Any]:
    found = extract(body, data_path)
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def _record(item: Any, flatten: bool) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"value": item}
    return flatten_record(item) if flatten else item


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as `parent.child` keys; lists stay whole (upstream's json_normalize)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_record(value, name + SEPARATOR))
        else:
            flat[name] = value
    return flat


def parse_path(path: str) -> Path:
    """`data.items[0]` -> ("data", "items", 0); `$` or "" is the whole response."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:].lstrip(".")
    steps: list[Step] = []
    for part in text.split(".") if text else []:
        match = _PART.fullmatch(part)
        if not match or not part:
            raise ValueError(f"invalid path '{path}' (e.g. data.users.nodes, data.items[0])")
        if match[1]:
            steps.append(match[1])
        for index in _INDEX.findall(match[2]):
            steps.append(slice(None) if index == "*" else int(index))
    return tuple(steps)


def extract(document: Any, path: Path) -> Any:
    """The value at `path`: None if nothing matches; with [*], the matches' lists joined
    (or the matches as a list), as upstream's JSONPath lookup returned them."""
    matches = [document]
    for step in path:
        matches = [found for value in matches for found in _step(value, step)]
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0]
    if all(isinstance(match, list) for match in matches):
        return [item for match in matches for item in match]
    return matches


def _step(value: Any, step: Step) -> list[Any]:
    if isinstance(step, str):
        return [value[step]] if isinstance(value, dict) and step in value else []
    if not isinstance(value, list):
        return []
    if isinstance(step, slice):
        return value[step]
    return [value[step]] if -len(value) <= step < len(value) else []
