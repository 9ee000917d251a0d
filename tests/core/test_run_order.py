"""Runs are listed newest start first whatever order the index holds them in.

The runner appends a record as its run ends, so runs that overlap sit out of start order,
and a migration appends old runs after new ones. A limited listing reads the index
backwards only as far as an earlier line could still hold a newer run.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.core.run_index import RunIndexReader, RunIndexWriter, RunRecord, utc_now_iso
from osiris.core.run_order import Newest, newest_first

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

runs_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2_000),  # start, minutes after T0
        st.integers(min_value=0, max_value=600),  # duration, minutes
        st.sampled_from(["orders", "users"]),
    ),
    min_size=1,
    max_size=40,
)
migrated_strategy = st.lists(st.integers(min_value=0, max_value=2_000), max_size=15)


def _record(run_id: str, start: int, minutes: int, slug: str, **extra) -> RunRecord:
    begin = T0 + timedelta(minutes=start)
    return RunRecord(
        run_id=run_id,
        pipeline_slug=slug,
        started_at=utc_now_iso(begin),
        finished_at=utc_now_iso(begin + timedelta(minutes=minutes)),
        status="success",
        **extra,
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=runs_strategy, migrated=migrated_strategy)
def test_every_limit_gives_the_newest_runs_by_start(runs: list, migrated: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        index = base / ".osiris" / "index"
        records = [_record(f"r{i:03d}", *run) for i, run in enumerate(runs)]
        # As the runner writes them: each when its run ends.
        ordered = sorted(records, key=lambda r: r.finished_at or "")
        old = [
            _record(f"m{i:03d}", start - 5_000, 1, "orders", source="migrated")
            for i, start in enumerate(migrated)
        ]
        writer = RunIndexWriter(index)
        writer.append_many(ordered + old)
        if old:
            # The migration's folder is written as it ends, after every run it appended.
            folder = base / ".osiris" / "migrations" / "20260301T000000.000Z-abcdef12"
            folder.mkdir(parents=True)
            last = (T0 + timedelta(minutes=3_000)).timestamp()
            os.utime(folder, (last, last))
        everything = newest_first(records + old)
        reader = RunIndexReader(index, base)
        assert reader.query() == everything
        for limit in range(1, len(everything) + 1):
            assert reader.query(limit=limit) == everything[:limit]
        orders = [r for r in everything if r.pipeline_slug == "orders"]
        assert reader.query(pipeline="orders", limit=3) == orders[:3]


def test_newest_stops_once_no_earlier_line_can_be_newer() -> None:
    newest = Newest(limit=1)
    late = _record("late", 100, 1, "orders")
    newest.offer(late, T0 + timedelta(minutes=101))
    assert not newest.complete  # a run appended earlier may have started later
    newest.offer(_record("early", 0, 1, "orders"), T0 + timedelta(minutes=1))
    assert newest.complete and newest.items() == [late]


def test_ties_in_start_go_by_run_id() -> None:
    same = [_record(run_id, 10, 1, "orders") for run_id in ("b", "c", "a")]
    assert [r.run_id for r in newest_first(same)] == ["c", "b", "a"]
