"""`--since` values: spans back from now, ISO dates and times, and the one-line refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from osiris.core.timespec import parse_since
from osiris.errors import EXIT_BAD_INPUT, UsageError

NOW = datetime(2025, 10, 7, 14, 22, 19, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "back"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("0d", timedelta(0)),
        (" 3h ", timedelta(hours=3)),
    ],
)
def test_spans_count_back_from_now(value: str, back: timedelta) -> None:
    assert parse_since(value, now=NOW) == NOW - back


def test_a_span_without_now_counts_back_from_the_clock() -> None:
    before = datetime.now(timezone.utc)
    moment = parse_since("1h")
    assert before - timedelta(hours=1) <= moment <= datetime.now(timezone.utc) - timedelta(hours=1)


def test_an_enormous_span_means_everything_instead_of_overflowing() -> None:
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    assert parse_since("99999999999999999999w", now=NOW) == earliest
    assert parse_since("2000000d", now=NOW) == earliest


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-10-01", datetime(2025, 10, 1, tzinfo=timezone.utc)),
        ("2025-10-01T08:30", datetime(2025, 10, 1, 8, 30, tzinfo=timezone.utc)),
        ("2025-10-01T08:30:15Z", datetime(2025, 10, 1, 8, 30, 15, tzinfo=timezone.utc)),
        ("2025-10-01T10:30:15+02:00", datetime(2025, 10, 1, 8, 30, 15, tzinfo=timezone.utc)),
        ("2025-10-01 08:30:15.5Z", datetime(2025, 10, 1, 8, 30, 15, 500000, tzinfo=timezone.utc)),
    ],
)
def test_iso_dates_and_times_are_utc_moments(value: str, expected: datetime) -> None:
    assert parse_since(value) == expected


@pytest.mark.parametrize(
    "value", ["", "yesterday", "7", "7 d", "-7d", "7D", "1y", "2025", "2025-13-01", "07/10/2025"]
)
def test_anything_else_is_refused_with_the_accepted_forms(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_since(value, now=NOW)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert caught.value.one_line() == (
        f"--since: '{value}' is neither a time span nor an ISO date or time "
        "(hint: use one of the forms 30s, 30m, 24h, 7d, 2w, 2025-10-07, 2025-10-07T14:00:00Z)"
    )
