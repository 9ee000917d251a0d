"""The one timestamp format (contract.md §6): UTC with milliseconds and a `Z`, as every
index record, journal line and plan holds it; and reading any ISO 8601 time back.

Apart from the run index's format so that commands which only stamp a time (`migrate
rollback`) do not load the index's record types.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_FRACTION = re.compile(r"\.(\d+)")


def utc_now_iso(moment: datetime | None = None) -> str:
    """A UTC time (default: now) as `2025-10-07T14:22:19.123Z`, the one timestamp format."""
    now = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now.isoformat(timespec="milliseconds")[:23] + "Z"  # without its "+00:00"


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 (`Z`, an offset, or no zone meaning UTC) into an aware UTC datetime."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11+ reads `Z` and any fraction
    except ValueError:
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Python 3.10's fromisoformat accepts only 3 or 6 fractional digits.
        text = _FRACTION.sub(lambda m: "." + m.group(1).ljust(6, "0")[:6], text)
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_moment(value: object) -> datetime | None:
    """An ISO time as an aware UTC datetime; None when it is missing or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
