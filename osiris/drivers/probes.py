"""Opening a connection to see that it works (`osiris connections doctor`).

Each probe connects with the settings a step would get and runs the smallest request
that proves the credentials: `SELECT 1`, a GraphQL `__typename`, an authenticated GET.
It returns the seconds that took (imports of the client excluded).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from osiris.drivers.sql_settings import DbSettings

Probe = Callable[[Mapping[str, Any], Path], float]


def _sql(module_name: str) -> Probe:
    def probe(settings: Mapping[str, Any], project_dir: Path) -> float:
        db = importlib.import_module(module_name)
        started = time.monotonic()
        conn = db.connect(DbSettings.from_config(settings, db.DEFAULT_PORT))
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            cursor.close()
        finally:
            conn.close()
        return time.monotonic() - started

    return probe


def _supabase(settings: Mapping[str, Any], project_dir: Path) -> float:
    if settings.get("pg_dsn") or settings.get("host"):
        return _sql("osiris.drivers.postgres_db")(settings, project_dir)
    url = settings.get("url") or (
        f"https://{settings['project_id']}.supabase.co" if settings.get("project_id") else None
    )
    if not url or not settings.get("key"):
        raise ValueError("give url (or project_id) and key, or PostgreSQL settings (host ...)")
    key = str(settings["key"])
    return _http_get(
        f"{str(url).rstrip('/')}/rest/v1/", {"apikey": key, "Authorization": f"Bearer {key}"}
    )


def _graphql(settings: Mapping[str, Any], project_dir: Path) -> float:
    import httpx

    headers = {str(k): str(v) for k, v in (settings.get("headers") or {}).items()}
    token = settings.get("auth_token")
    auth_type = settings.get("auth_type") or "none"
    auth: Any = None
    if auth_type == "bearer" and token:
        headers["Authorization"] = f"Bearer {token}"
    elif auth_type == "api_key" and token:
        headers[str(settings.get("auth_header_name") or "X-API-Key")] = str(token)
    elif auth_type == "basic":
        auth = (str(settings.get("auth_username") or ""), str(token or ""))
    started = time.monotonic()
    response = httpx.post(
        str(settings["endpoint"]),
        json={"query": "{ __typename }"},
        headers=headers,
        auth=auth,
        timeout=float(settings.get("timeout") or 10),
        verify=bool(settings.get("validate_ssl", True)),
    )
    _raise_for_status(response)
    return time.monotonic() - started


def _posthog(settings: Mapping[str, Any], project_dir: Path) -> float:
    region = settings.get("region") or "us"
    base = settings.get("custom_base_url") or f"https://{region}.posthog.com"
    return _http_get(
        f"{str(base).rstrip('/')}/api/projects/{settings.get('project_id')}/",
        {"Authorization": f"Bearer {settings.get('api_key')}"},
    )


def _filesystem(settings: Mapping[str, Any], project_dir: Path) -> float:
    started = time.monotonic()
    base_dir = project_dir / str(settings.get("base_dir") or ".")
    if not base_dir.is_dir():
        raise FileNotFoundError(f"base_dir {settings.get('base_dir')} is not a folder")
    return time.monotonic() - started


def _http_get(url: str, headers: Mapping[str, str]) -> float:
    import httpx

    started = time.monotonic()
    _raise_for_status(httpx.get(url, headers=dict(headers), timeout=10))
    return time.monotonic() - started


def _raise_for_status(response: Any) -> None:
    if response.status_code >= 400:
        text = " ".join(response.text.split())[:200]
        raise ConnectionError(f"HTTP {response.status_code} from {response.url.host}: {text}")


PROBES: dict[str, Probe] = {
    "mysql": _sql("osiris.drivers.mysql_db"),
    "postgres": _sql("osiris.drivers.postgres_db"),
    "supabase": _supabase,
    "graphql": _graphql,
    "posthog": _posthog,
    "filesystem": _filesystem,
}
