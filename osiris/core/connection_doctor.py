"""`osiris connections doctor`: open each named connection and report what happened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.core.connections import Connection, Connections
from osiris.core.secrets import redact, secret_values
from osiris.errors import OsirisError


@dataclass(frozen=True)
class Diagnosis:
    """One connection's check: ok with its latency, or the exact error (secrets masked)."""

    reference: str
    ok: bool
    latency_ms: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.reference,
            "ok": self.ok,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


def diagnose(connections: Connections, connection: Connection, project_dir: Path) -> Diagnosis:
    """Resolve `connection` and open it; any failure is reported, never raised."""
    from osiris.drivers.probes import PROBES

    probe = PROBES.get(connection.family)
    if probe is None:
        return Diagnosis(connection.reference, False, error="no check for this family")
    try:
        settings = connections.resolve(connection)
    except OsirisError as exc:
        return Diagnosis(connection.reference, False, error=exc.one_line())
    try:
        seconds = probe(settings, project_dir)
    except Exception as exc:  # any driver's error is the answer the user asked for
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        secrets = secret_values(settings) | connections.secrets()
        return Diagnosis(connection.reference, False, error=redact(message, secrets))
    return Diagnosis(connection.reference, True, latency_ms=round(seconds * 1000))
