"""The one order of runs: newest start first, ties by run id (contract.md §6).

The index is append-only and records are appended when runs end, so the order of its lines
is nearly, but not exactly, the order of their starts: runs overlap, and a migration
appends old runs after new ones. `Newest` keeps the newest N runs by start while the index
is read backwards, and says when no earlier line can hold a newer one: every earlier line
was appended before the lines already read, and a run starts before its line is appended.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from osiris.core.config_file import MIGRATIONS_DIR

OLDEST = datetime.min.replace(tzinfo=timezone.utc)
# Runs written by several machines into one project may disagree on the time this much.
CLOCK_SLACK = timedelta(minutes=10)
MIGRATED = "migrated"


class Timed(Protocol):
    @property
    def run_id(self) -> str: ...

    @property
    def started_at(self) -> str | None: ...


def order_key(item: Timed) -> tuple[datetime, str]:
    """Sort key of a run (newest first with `reverse=True`): its start, then its id."""
    from osiris.core.run_index import parse_moment

    return parse_moment(item.started_at) or OLDEST, item.run_id.lower()


def newest_first(items: Iterable[Timed]) -> list:
    """Items sorted newest start first, ties by run id."""
    return sorted(items, key=order_key, reverse=True)


def migrated_bound(base_path: Path) -> datetime | None:
    """When the last migration was written: migrated records were appended before it.

    None when no migration folder is left (then a migrated record bounds nothing)."""
    folder = Path(base_path) / MIGRATIONS_DIR
    try:
        with os.scandir(folder) as listing:
            times = [e.stat(follow_symlinks=False).st_mtime for e in listing if e.is_dir()]
    except OSError:
        return None
    if not times:
        return None
    return datetime.fromtimestamp(max(times), timezone.utc)


class Newest:
    """The newest `limit` items offered, and whether reading further can change them.

    Offer items from the last appended to the first, each with the time its line was
    appended at the latest (None when unknown): once the earliest such time is older than
    the oldest kept start (beyond the clock slack), no earlier line can be newer.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._heap: list[tuple[tuple[datetime, str], int, Timed]] = []
        self._count = 0
        self._frontier: datetime | None = None

    def offer(self, item: Timed | None, appended_by: datetime | None) -> None:
        """Consider `item` (None: a line that only moves the frontier)."""
        if appended_by is not None and (self._frontier is None or appended_by < self._frontier):
            self._frontier = appended_by
        if item is None:
            return
        self._count += 1
        entry = (order_key(item), self._count, item)
        if self.limit is None or len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif entry[0] > self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def passed(self, moment: datetime) -> bool:
        """True when no earlier line can hold a run started at or after `moment`."""
        return self._frontier is not None and self._frontier + CLOCK_SLACK < moment

    @property
    def complete(self) -> bool:
        """True when no earlier line can hold a run newer than the ones kept."""
        if self.limit is None or len(self._heap) < self.limit:
            return False
        return self.passed(self._heap[0][0][0])

    def items(self) -> list:
        """The kept items, newest first."""
        return [item for _, _, item in sorted(self._heap, key=lambda e: e[0], reverse=True)]
