"""`--since` values: a span back from now (`30m`, `24h`, `7d`, `2w`) or an ISO date/time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from osiris.core.run_index import parse_iso
from osiris.errors import UsageError

ACCEPTED = "30s, 30m, 24h, 7d, 2w, 2025-10-07, 2025-10-07T14:00:00Z"
_SPAN = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """The aware UTC moment `value` names; a bare date is midnight UTC, a zoneless time UTC."""
    text = value.strip()
    span = _SPAN.fullmatch(text)
    if span:
        seconds = int(span.group(1)) * _UNIT_SECONDS[span.group(2)]
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        try:
            return moment - timedelta(seconds=seconds)
        except OverflowError:
            return _EARLIEST  # further back than datetime reaches: everything
    # Only ISO forms that start with a full date: fromisoformat alone would also take "2025".
    if re.match(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return parse_iso(text)
        except ValueError:
            pass
    raise UsageError(
        f"'{value}' is neither a time span nor an ISO date or time",
        key="--since",
        hint=f"use one of the forms {ACCEPTED}",
    )
