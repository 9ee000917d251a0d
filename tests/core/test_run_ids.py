"""Run id formats, the SQLite counter, and uniqueness across real processes."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ulid import ULID

from osiris.core.run_ids import CounterStore, RunIdGenerator, parse_run_id_format
from osiris.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 10, 7, 14, 22, 19, 123000, tzinfo=timezone.utc)
PATH_SAFE = re.compile(r"[A-Za-z0-9._+-]+")
SNOWFLAKE_EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


def _ms_since_snowflake_epoch(moment: datetime) -> int:
    return (moment - SNOWFLAKE_EPOCH) // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("iso_ulid", ["iso_ulid"]),
        ("incremental,ulid", ["incremental", "ulid"]),
        (" incremental , ULID ", ["incremental", "ulid"]),
        (["snowflake", "uuidv4"], ["snowflake", "uuidv4"]),
    ],
)
def test_parse_run_id_format_accepts_strings_and_lists(value, expected):
    assert parse_run_id_format(value) == expected


def test_parse_run_id_format_names_the_bad_token_and_the_key():
    with pytest.raises(ConfigError) as info:
        parse_run_id_format(["incremental", "ksuid"])
    assert info.value.key == "ids.run_id_format"
    assert str(info.value) == (
        "ids.run_id_format: Unsupported run_id_format token 'ksuid'. "
        "Supported: incremental, ulid, iso_ulid, uuidv4, snowflake."
    )


def test_parse_run_id_format_reports_the_given_source():
    with pytest.raises(ConfigError) as info:
        parse_run_id_format("ulid,ksuid", source="OSIRIS_RUN_ID_FORMAT")
    assert info.value.key == "OSIRIS_RUN_ID_FORMAT"


@pytest.mark.parametrize("value", ["", " , ", []])
def test_parse_run_id_format_refuses_an_empty_format(value):
    with pytest.raises(ConfigError, match="run_id_format is empty"):
        parse_run_id_format(value)


def test_parse_run_id_format_refuses_other_types():
    with pytest.raises(ConfigError, match="must be a string or a list, not int"):
        parse_run_id_format(5)  # type: ignore[arg-type]


def test_counter_store_counts_per_pipeline_from_one(tmp_path):
    store = CounterStore(tmp_path / "deep" / "index" / "counters.sqlite")
    assert store.peek("orders") == 0
    assert [store.next_value("orders") for _ in range(3)] == [1, 2, 3]
    assert store.next_value("users") == 1
    assert (store.peek("orders"), store.peek("users")) == (3, 1)
    assert CounterStore(store.db_path).next_value("orders") == 4


def test_counter_store_schema_and_wal_mode(tmp_path):
    store = CounterStore(tmp_path / "counters.sqlite")
    store.next_value("orders")
    conn = sqlite3.connect(store.db_path)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'counters'").fetchone()
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        (row,) = conn.execute("SELECT pipeline_slug, last_value, updated_at FROM counters")
    finally:
        conn.close()
    assert sql == (
        "CREATE TABLE counters("
        "pipeline_slug TEXT PRIMARY KEY, last_value INTEGER NOT NULL, updated_at TEXT NOT NULL)"
    )
    assert mode == "wal"
    assert row[:2] == ("orders", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row[2])


def test_incremental_pads_to_six_digits_and_grows_beyond(tmp_path):
    store = CounterStore(tmp_path / "counters.sqlite")
    generator = RunIdGenerator(["incremental"], store)
    assert generator.generate("orders", NOW) == "run-000001"
    assert generator.generate("orders", NOW) == "run-000002"
    conn = sqlite3.connect(store.db_path)
    with conn:
        conn.execute("UPDATE counters SET last_value = 999999 WHERE pipeline_slug = 'orders'")
    conn.close()
    assert generator.generate("orders", NOW) == "run-1000000"


def test_incremental_needs_a_counter_store():
    with pytest.raises(ValueError, match="needs a CounterStore"):
        RunIdGenerator(["ulid", "incremental"], None)


def test_generator_validates_its_formats():
    with pytest.raises(ConfigError, match="'ksuid'"):
        RunIdGenerator(["ksuid"])


def test_ulid_carries_the_given_time():
    run_id = RunIdGenerator(["ulid"]).generate("orders", NOW)
    assert len(run_id) == 26
    assert ULID.from_str(run_id).datetime == NOW


def test_iso_ulid_is_utc_and_path_safe():
    two_hours_east = timezone(timedelta(hours=2))
    run_id = RunIdGenerator(["iso_ulid"]).generate("orders", NOW.astimezone(two_hours_east))
    prefix, ulid_part = run_id.split("_")
    assert prefix == "2025-10-07T14-22-19Z"
    assert ULID.from_str(ulid_part).datetime == NOW


def test_naive_now_is_taken_as_utc():
    run_id = RunIdGenerator(["iso_ulid"]).generate("orders", datetime(2025, 1, 2, 3, 4, 5))
    assert run_id.startswith("2025-01-02T03-04-05Z_")


def test_uuidv4():
    run_id = RunIdGenerator(["uuidv4"]).generate("orders")
    assert uuid.UUID(run_id).version == 4
    assert str(uuid.UUID(run_id)) == run_id


def test_snowflake_packs_time_pid_and_sequence():
    now = datetime.now(timezone.utc)
    value = int(RunIdGenerator(["snowflake"]).generate("orders", now))
    assert value < 2**63
    assert value >> 22 == _ms_since_snowflake_epoch(now)
    assert (value >> 12) & 0x3FF == os.getpid() & 0x3FF


def test_snowflake_rises_even_past_4096_ids_in_one_millisecond():
    generator = RunIdGenerator(["snowflake"])
    now = datetime.now(timezone.utc)
    values = [int(generator.generate("orders", now)) for _ in range(5000)]
    assert values == sorted(set(values))
    assert values[-1] >> 22 > _ms_since_snowflake_epoch(now)


def test_snowflake_is_time_ordered():
    generator = RunIdGenerator(["snowflake"])
    now = datetime.now(timezone.utc)
    earlier = int(generator.generate("orders", now))
    later = int(generator.generate("orders", now + timedelta(seconds=1)))
    assert later >> 22 == (earlier >> 22) + 1000


def test_snowflake_refuses_times_before_its_epoch():
    with pytest.raises(ValueError, match="before 2020-01-01"):
        RunIdGenerator(["snowflake"]).generate(
            "orders", datetime(2019, 12, 31, tzinfo=timezone.utc)
        )


def test_composed_ids_join_parts_in_order_and_stay_path_safe(tmp_path):
    formats = ["incremental", "ulid", "iso_ulid", "uuidv4", "snowflake"]
    generator = RunIdGenerator(formats, CounterStore(tmp_path / "counters.sqlite"))
    run_id = generator.generate("orders", NOW)
    assert PATH_SAFE.fullmatch(run_id)
    assert re.fullmatch(
        r"run-000001_[0-9A-Z]{26}_2025-10-07T14-22-19Z_[0-9A-Z]{26}_[0-9a-f-]{36}_\d+", run_id
    )


WORKER = r"""
import sys, time
from pathlib import Path
from osiris.core.run_ids import CounterStore, RunIdGenerator

db, go, worker = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
generator = RunIdGenerator(["incremental", "ulid"], CounterStore(db))
while not go.exists():
    time.sleep(0.001)
for i in range(100):
    slug = ("alpha", "beta")[(worker + i) % 2]
    print(slug, generator.generate(slug))
"""


@pytest.mark.slow
def test_counter_never_repeats_across_processes(tmp_path):
    db, go = tmp_path / "index" / "counters.sqlite", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(go), str(n)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(8)
    ]
    go.touch()  # all workers start generating at once
    lines = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        lines += out.splitlines()

    assert len(lines) == 800
    ids = [line.split()[1] for line in lines]
    assert len(set(ids)) == 800
    counters = defaultdict(list)
    for line in lines:
        slug, run_id = line.split()
        match = re.fullmatch(r"run-(\d{6})_[0-9A-Z]{26}", run_id)
        assert match, run_id
        counters[slug].append(int(match.group(1)))
    assert sorted(counters["alpha"]) == list(range(1, 401))
    assert sorted(counters["beta"]) == list(range(1, 401))
    store = CounterStore(db)
    assert (store.peek("alpha"), store.peek("beta")) == (400, 400)
