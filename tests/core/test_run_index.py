"""The run index: exact bytes written, reverse folding reads, damage, other versions, locking."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.core import fsio, run_index
from osiris.core.fsio import canonical_json
from osiris.core.run_index import (
    AmbiguousRunId,
    IndexPaths,
    Pointer,
    RunIndexReader,
    RunIndexWriter,
    RunRecord,
    parse_iso,
    read_pointer,
    utc_now_iso,
)
from osiris.core.run_order import newest_first
from osiris.errors import NotFound, OperationFailed, UsageError

REPO = Path(__file__).resolve().parents[2]
BASE = Path("/project")
INDEX = BASE / ".osiris" / "index"
HASH = "3f9a" * 16


def record(run_id: str, slug: str = "orders", **values) -> RunRecord:
    return RunRecord(run_id=run_id, pipeline_slug=slug, **{"status": "success", **values})


T0 = "2025-10-07T12:00:00.000Z"


def timed(run_id: str, *, minutes: int, slug: str = "orders", **values) -> RunRecord:
    """A record of a one-minute run started `minutes` after T0, as the runner writes it."""
    start = datetime(2025, 10, 7, 12, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    return record(
        run_id,
        slug,
        started_at=utc_now_iso(start),
        finished_at=utc_now_iso(start + timedelta(minutes=1)),
        **values,
    )


def lines_of(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data.split(b"\n")[:-1]


def ids(records: list[RunRecord]) -> list[str]:
    return [r.run_id for r in records]


@pytest.fixture
def writer(fs) -> RunIndexWriter:
    return RunIndexWriter(INDEX)


@pytest.fixture
def reader(fs) -> RunIndexReader:
    return RunIndexReader(INDEX, BASE)


# --- timestamps ---------------------------------------------------------------------------


def test_utc_now_iso_is_millisecond_utc():
    text = utc_now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert abs(parse_iso(text) - datetime.now(timezone.utc)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (
            datetime(2025, 10, 7, 16, 22, 19, 999999, timezone(timedelta(hours=2))),
            "2025-10-07T14:22:19.999Z",
        ),
        (datetime(2025, 10, 7, 14, 22, 19, tzinfo=timezone.utc), "2025-10-07T14:22:19.000Z"),
        (datetime(5, 1, 2, 3, 4, 5, 6000, timezone.utc), "0005-01-02T03:04:05.006Z"),
    ],
)
def test_utc_now_iso_of_a_moment_is_utc_truncated_to_milliseconds(moment, text):
    assert utc_now_iso(moment) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-07T14:22:19Z", datetime(2025, 10, 7, 14, 22, 19, tzinfo=timezone.utc)),
        ("2025-10-07T14:22:19.12Z", datetime(2025, 10, 7, 14, 22, 19, 120000, timezone.utc)),
        ("2025-10-07T16:22:19+02:00", datetime(2025, 10, 7, 14, 22, 19, tzinfo=timezone.utc)),
        ("2025-10-07T14:22:19", datetime(2025, 10, 7, 14, 22, 19, tzinfo=timezone.utc)),
        (" 2025-10-07 14:22:19.1234567z ", datetime(2025, 10, 7, 14, 22, 19, 123456, timezone.utc)),
    ],
)
def test_parse_iso(text, expected):
    parsed = parse_iso(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z"])
def test_parse_iso_rejects_non_dates(text):
    with pytest.raises(ValueError):
        parse_iso(text)


# --- RunRecord ----------------------------------------------------------------------------


def test_record_round_trips_through_dict_with_extra_keys():
    original = record("r1", profile="dev", tags=("b", "a"), duration_ms=5, extra={"x": [1]})
    data = original.to_dict()
    assert data["tags"] == ["a", "b"]
    assert data["x"] == [1]
    assert set(data) == {f for f in RunRecord.__dataclass_fields__ if f != "extra"} | {"x"}
    assert RunRecord.from_dict(data) == original
    assert RunRecord.from_dict(data).to_dict() == data


def test_record_from_another_version_is_tolerated():
    data = {
        "run_id": "RUN-7",
        "profile": None,
        "tags": "nightly+backfill",
        "duration_ms": "1520",
        "rows_in": "n/a",
        "rows_out": 12.0,
        "status": None,
        "session_id": "run_1759846939123",
        "extra": "a key named extra",
    }
    rec = RunRecord.from_dict(data)
    assert rec.pipeline_slug == ""
    assert rec.profile is None
    assert rec.tags == ("backfill", "nightly")
    assert (rec.duration_ms, rec.rows_in, rec.rows_out) == (1520, None, 12)
    assert rec.status == "unknown"
    assert rec.source == "contract"
    assert rec.extra == {"session_id": "run_1759846939123", "extra": "a key named extra"}


def test_empty_profile_means_no_profile():
    assert RunRecord.from_dict({"run_id": "r", "profile": ""}).profile is None
    complete = {**record("r").to_dict(), "profile": ""}  # a line as this version writes it
    assert RunRecord.from_dict(complete).profile is None


_ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)


@given(values=st.dictionaries(st.sampled_from(sorted(record("r").to_dict())), _ANY_VALUE))
def test_a_complete_line_of_any_values_reads_as_one_taken_key_by_key(values):
    # A line holding every field, as this version writes it, is taken without converting
    # when every value has its written type; any other value must read as it does when
    # the line lacks a field (converted key by key).
    complete = {**record("r").to_dict(), **values, "run_id": "r"}
    partial = {k: v for k, v in complete.items() if k != "git_commit"}
    expected = RunRecord.from_dict(partial)
    found = RunRecord.from_dict(complete)
    assert replace(found, git_commit=None) == expected
    assert found.git_commit == RunRecord.from_dict({**values, "run_id": "r"}).git_commit


@pytest.mark.parametrize("data", [{}, {"run_id": ""}, {"run_id": 7}])
def test_record_needs_a_run_id(data):
    with pytest.raises(ValueError, match="run_id"):
        RunRecord.from_dict(data)


# --- writing ------------------------------------------------------------------------------


def test_append_writes_the_same_canonical_line_to_both_files(writer):
    first = record("r1", tags=("z", "a"), extra={"note": "é"})
    second = record("r2", slug="users")
    writer.append(first)
    writer.append(second.to_dict())
    line1 = canonical_json(first.to_dict()).encode()
    line2 = canonical_json(second.to_dict()).encode()
    assert b'"tags":["a","z"]' in line1
    assert "é".encode() in line1
    assert (INDEX / "runs.jsonl").read_bytes() == line1 + b"\n" + line2 + b"\n"
    assert (INDEX / "by_pipeline" / "orders.jsonl").read_bytes() == line1 + b"\n"
    assert (INDEX / "by_pipeline" / "users.jsonl").read_bytes() == line2 + b"\n"


def test_append_many_writes_and_fsyncs_each_file_once(tmp_path, monkeypatch):
    synced = []
    real_sync = fsio.os.fdatasync
    monkeypatch.setattr(fsio.os, "fdatasync", lambda fd: synced.append(fd) or real_sync(fd))
    writer = RunIndexWriter(tmp_path)
    batch = [record(f"r{i}", slug=("a", "b")[i % 2]) for i in range(1000)]
    writer.append_many(batch)
    assert len(synced) == 3  # runs.jsonl, by_pipeline/a.jsonl, by_pipeline/b.jsonl
    assert [json.loads(x)["run_id"] for x in lines_of(tmp_path / "runs.jsonl")] == ids(batch)
    assert len(lines_of(tmp_path / "by_pipeline" / "a.jsonl")) == 500
    # No start times: the order falls back to the run ids, newest (largest) first.
    assert RunIndexReader(tmp_path, tmp_path).query() == newest_first(batch)


def test_append_update_line(writer, monkeypatch):
    monkeypatch.setattr(run_index, "utc_now_iso", lambda: "2025-10-07T14:22:19.123Z")
    writer.append_update("r1", "orders", tags=["nightly", "backfill"])
    assert lines_of(INDEX / "runs.jsonl") == [
        b'{"kind":"update","pipeline_slug":"orders","recorded_at":"2025-10-07T14:22:19.123Z",'
        b'"run_id":"r1","tags":["backfill","nightly"]}'
    ]
    assert lines_of(INDEX / "by_pipeline" / "orders.jsonl") == lines_of(INDEX / "runs.jsonl")


@pytest.mark.parametrize(
    "bad",
    [
        {"run_id": "r1", "pipeline_slug": "../escape"},
        {"run_id": "r1", "pipeline_slug": ".."},
        {"run_id": "r1"},
        {"pipeline_slug": "orders"},
    ],
)
def test_append_refuses_records_it_cannot_file(writer, bad):
    with pytest.raises(ValueError):
        writer.append_many([record("ok"), bad])
    assert not INDEX.exists()


def test_index_paths():
    paths = IndexPaths(INDEX)
    assert paths.runs == INDEX / "runs.jsonl"
    assert paths.lock == INDEX / ".lock"
    assert paths.last_compile == INDEX / "last_compile.txt"
    assert paths.by_pipeline("orders") == INDEX / "by_pipeline" / "orders.jsonl"
    assert paths.latest("orders") == INDEX / "latest" / "orders.txt"
    with pytest.raises(ValueError):
        paths.latest("a/b")


# --- pointers -----------------------------------------------------------------------------


def test_pointer_files_are_exactly_three_lines(writer):
    manifest = f"build/pipelines/dev/orders/3f9a3f9-{HASH}/manifest.yaml"
    writer.write_pointer("orders", manifest, HASH, "dev")
    expected = f"{manifest}\n{HASH}\ndev\n".encode()
    assert (INDEX / "latest" / "orders.txt").read_bytes() == expected
    assert (INDEX / "last_compile.txt").read_bytes() == expected
    assert read_pointer(INDEX / "latest" / "orders.txt") == Pointer(manifest, HASH, "dev")


def test_pointer_without_profile_ends_with_an_empty_line(writer):
    writer.write_pointer("orders", Path("build/pipelines/orders/m.yaml"), HASH, None)
    expected = f"build/pipelines/orders/m.yaml\n{HASH}\n\n".encode()
    assert (INDEX / "latest" / "orders.txt").read_bytes() == expected
    assert read_pointer(INDEX / "last_compile.txt") == Pointer(
        "build/pipelines/orders/m.yaml", HASH, None
    )


def test_pointer_refuses_multi_line_values(writer):
    with pytest.raises(ValueError, match="single lines"):
        writer.write_pointer("orders", "m.yaml", "abc\ndef", None)
    assert not INDEX.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m.yaml\r\nabc\r\nprod\r\n", Pointer("m.yaml", "abc", "prod")),
        ("m.yaml\nabc", Pointer("m.yaml", "abc", None)),
        ("", None),
        ("\n\n\n", None),
    ],
)
def test_read_pointer_is_tolerant(fs, text, expected):
    fs.create_file("/p.txt", contents=text)
    assert read_pointer(Path("/p.txt")) == expected


def test_read_pointer_of_a_missing_file(fs):
    assert read_pointer(Path("/nowhere/latest/orders.txt")) is None


# --- reading ------------------------------------------------------------------------------


def test_empty_index_reads_as_no_runs(reader):
    assert reader.query() == []
    assert reader.warnings == []
    with pytest.raises(NotFound):
        reader.get("r1")


def test_query_is_newest_first_with_filters(writer, reader):
    writer.append(record("r1", profile="dev", started_at="2025-10-01T00:00:00Z"))
    writer.append(record("r2", slug="users", profile="prod", started_at="2025-10-02T00:00:00Z"))
    writer.append(
        record("r3", profile="prod", started_at="2025-10-03T02:00:00+02:00", status="failed")
    )
    writer.append(record("r4", started_at=None))
    # By start time, not by index order; a run without a start time lists last.
    assert ids(reader.query()) == ["r3", "r2", "r1", "r4"]
    assert ids(reader.query(limit=2)) == ["r3", "r2"]
    assert ids(reader.query(limit=0)) == []
    assert ids(reader.query(pipeline="orders")) == ["r3", "r1", "r4"]
    assert ids(reader.query(pipeline="nope")) == []
    assert ids(reader.query(profile="prod")) == ["r3", "r2"]
    assert ids(reader.query(status="failed")) == ["r3"]
    since = datetime(2025, 10, 2, tzinfo=timezone.utc)
    assert ids(reader.query(since=since)) == ["r3", "r2"]
    assert ids(reader.query(since=datetime(2025, 10, 3, 0, 0, 1))) == []  # naive = UTC
    assert ids(reader.query(pipeline="orders", profile="prod", limit=5)) == ["r3"]


def test_pipeline_query_reads_only_its_own_file(writer, reader):
    writer.append(record("r1"))
    writer.append(record("r2", slug="users"))
    (INDEX / "runs.jsonl").unlink()
    assert ids(reader.query(pipeline="orders")) == ["r1"]
    assert ids(reader.query()) == []


def test_pipeline_query_falls_back_to_runs_jsonl(fs, reader):
    # An index written by a version without by_pipeline files.
    lines = [canonical_json(record(r, slug=s).to_dict()) for r, s in [("a", "x"), ("b", "y")]]
    fs.create_file(INDEX / "runs.jsonl", contents="\n".join(lines) + "\n")
    assert ids(reader.query(pipeline="y")) == ["b"]
    assert ids(reader.query(pipeline="../y")) == []


def test_tag_updates_fold_into_their_run(writer, reader, monkeypatch):
    writer.append(record("r1", tags=("old",), duration_ms=10))
    writer.append(record("r2"))
    monkeypatch.setattr(run_index, "utc_now_iso", lambda: "2025-10-08T00:00:00.000Z")
    writer.append_update("r1", "orders", tags=["b", "a"])
    writer.append_update("r1", "orders", status="failed")
    runs = reader.query()
    # The run keeps the place of its base record, not of its updates.
    assert ids(runs) == ["r2", "r1"]
    folded = runs[1]
    assert folded.tags == ("a", "b")
    assert folded.status == "failed"
    assert folded.duration_ms == 10
    assert folded.extra == {}  # the update's kind/recorded_at describe the line, not the run
    assert ids(reader.query(tag="a")) == ["r1"]
    assert ids(reader.query(tag="old")) == []
    assert reader.get("r1") == folded


def test_an_update_without_its_run_is_dropped(writer, reader):
    writer.append_update("ghost", "orders", tags=["x"])
    writer.append(record("r1"))
    assert ids(reader.query()) == ["r1"]
    with pytest.raises(NotFound):
        reader.get("ghost")


def test_a_newer_base_record_restates_its_run(writer, reader):
    writer.append(record("r1", status="running", tags=("early",), started_at=T0))
    writer.append_update("r1", "orders", tags=["lost"])
    writer.append(record("r2", started_at="2025-10-07T11:00:00.000Z"))
    writer.append(record("r1", duration_ms=99, started_at=T0))
    runs = reader.query()
    assert ids(runs) == ["r1", "r2"]
    assert (runs[0].status, runs[0].tags, runs[0].duration_ms) == ("success", (), 99)


def test_reverse_reading_across_blocks_and_long_lines(writer, reader):
    batch = [record(f"r{i:04d}", extra={"pad": "x" * (i % 300)}) for i in range(3000)]
    batch[1500] = record("r1500", extra={"pad": "y" * 200_000})  # longer than 3 blocks
    writer.append_many(batch)
    assert (INDEX / "runs.jsonl").stat().st_size > 10 * 64 * 1024
    assert reader.query() == batch[::-1]
    assert reader.query(limit=7) == batch[:-8:-1]
    assert reader.get("r1500").extra["pad"] == "y" * 200_000


class CountingReader:
    """Counts the bytes a handle hands out."""

    total = 0

    def __init__(self, handle):
        self.handle = handle

    def read(self, size=-1):
        data = self.handle.read(size)
        CountingReader.total += len(data)
        return data

    def seek(self, *args):
        return self.handle.seek(*args)

    @classmethod
    def open(cls, *args, **kwargs):
        return cls(open(*args, **kwargs))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_limited_query_reads_only_the_tail(fs, reader, monkeypatch):
    lines = [canonical_json(timed(f"r{i:06d}", minutes=i).to_dict()) for i in range(30_000)]
    fs.create_file(INDEX / "runs.jsonl", contents="\n".join(lines) + "\n")
    size = (INDEX / "runs.jsonl").stat().st_size
    CountingReader.total = 0
    monkeypatch.setattr(run_index, "open", CountingReader.open, raising=False)
    assert ids(reader.query(limit=20)) == [f"r{i:06d}" for i in range(29_999, 29_979, -1)]
    assert size > 100 * 64 * 1024
    assert CountingReader.total <= 64 * 1024


def test_a_torn_last_line_is_skipped_then_sealed(writer, reader):
    for run_id in ("r1", "r2", "r3"):
        writer.append(record(run_id))
    with open(INDEX / "runs.jsonl", "ab") as handle:
        handle.write(b'{"run_id":"r4","pipeline_slug":"ord')  # a crash mid-write
    assert ids(reader.query()) == ["r3", "r2", "r1"]
    assert reader.warnings == [".osiris/index/runs.jsonl: skipped a damaged line 4"]
    assert ids(reader.query(limit=1)) == ["r3"]
    assert reader.warnings == [".osiris/index/runs.jsonl: skipped a damaged line 4"]

    writer.append(record("r5"))
    raw = (INDEX / "runs.jsonl").read_bytes()
    assert raw.endswith(
        b'"pipeline_slug":"ord\n' + canonical_json(record("r5").to_dict()).encode() + b"\n"
    )
    assert ids(reader.query()) == ["r5", "r3", "r2", "r1"]
    assert reader.warnings == [".osiris/index/runs.jsonl: skipped a damaged line 4"]


def test_damaged_lines_anywhere_are_reported_with_their_line_numbers(fs, reader):
    good = [canonical_json(record(f"r{i}").to_dict()) for i in range(4)]
    text = "\n".join(
        [good[0], "not json", good[1], "", "[1, 2]", '{"pipeline_slug": "x"}', good[2], "   "]
    )
    fs.create_file(INDEX / "runs.jsonl", contents=text + "\n" + good[3])  # valid, no newline
    assert ids(reader.query()) == ["r3", "r2", "r1", "r0"]
    assert reader.warnings == [
        ".osiris/index/runs.jsonl: skipped a damaged line 6",
        ".osiris/index/runs.jsonl: skipped a damaged line 5",
        ".osiris/index/runs.jsonl: skipped a damaged line 2",
    ]
    assert reader.get("r0").run_id == "r0"


def test_damaged_by_pipeline_line_names_its_file(fs, reader):
    fs.create_file(INDEX / "by_pipeline" / "orders.jsonl", contents="{oops\n")
    assert reader.query(pipeline="orders") == []
    assert reader.warnings == [".osiris/index/by_pipeline/orders.jsonl: skipped a damaged line 1"]


# --- get ----------------------------------------------------------------------------------


@pytest.fixture
def many(writer):
    names = ["run-000001_01AAA", "run-000001_01BBB", "run-000002_01CCC", "run-000002"]
    names += [f"run-0001{i:02d}_x" for i in range(12)]
    writer.append_many(record(name) for name in names)


def test_get_exact_then_unique_prefix(many, reader):
    assert reader.get("run-000001_01AAA").run_id == "run-000001_01AAA"
    assert reader.get("RUN-000001_01aaa").run_id == "run-000001_01AAA"
    assert reader.get("run-000001_01B").run_id == "run-000001_01BBB"
    # An exact id wins although it is also the prefix of another run.
    assert reader.get("run-000002").run_id == "run-000002"


def test_get_unknown_run(many, reader):
    with pytest.raises(NotFound) as info:
        reader.get("zzz")
    assert not isinstance(info.value, AmbiguousRunId)
    assert str(info.value) == "no run 'zzz' in the index (hint: osiris runs list shows run ids)"


def test_get_ambiguous_prefix_lists_candidates(many, reader):
    with pytest.raises(AmbiguousRunId) as info:
        reader.get("run-000001")
    assert ids(info.value.candidates) == ["run-000001_01BBB", "run-000001_01AAA"]
    assert info.value.message == (
        "run id 'run-000001' matches 2 runs: orders/run-000001_01BBB, orders/run-000001_01AAA"
    )
    with pytest.raises(NotFound) as info:
        reader.get("run-0001")
    assert len(info.value.candidates) == 12
    assert info.value.message == (
        "run id 'run-0001' matches 12 runs: "
        + ", ".join(f"orders/run-0001{i:02d}_x" for i in range(11, 1, -1))
        + " and 2 more"
    )


def test_get_needs_an_id(reader):
    with pytest.raises(UsageError):
        reader.get("  ")


# --- records from other versions ----------------------------------------------------------


def test_paths_from_another_machine_resolve_in_this_project(fs, reader):
    run_dir = BASE / "run_logs" / "dev" / "orders" / "20251007T142219Z_run-000007-3f9a3f9"
    aiop_dir = BASE / "aiop" / "dev" / "orders" / f"3f9a3f9-{HASH}" / "run-000007"
    manifest = BASE / "build" / "pipelines" / "dev" / "orders" / f"3f9a3f9-{HASH}" / "m.yaml"
    fs.create_dir(run_dir)
    fs.create_dir(aiop_dir)
    fs.create_file(manifest)
    legacy = {
        "run_id": "RUN-000007",
        "pipeline_slug": "orders",
        "profile": None,
        "status": "success",
        "run_logs_path": "/home/old/build/acme/run_logs/dev/orders/"
        "20251007T142219Z_RUN-000007-3f9a3f9",
        "aiop_path": f"C:\\Users\\old\\acme\\aiop\\dev\\orders\\3f9a3f9-{HASH}\\RUN-000007",
        # "build" appears twice; the reading that exists here wins.
        "build_manifest_path": "/home/old/build/acme/build/pipelines/dev/orders/"
        f"3f9a3f9-{HASH}/m.yaml",
        "writer": "osiris 0.2",
    }
    fs.create_file(INDEX / "runs.jsonl", contents=json.dumps(legacy) + "\n")

    rec = reader.get("run-000007")
    assert rec.run_logs_path == "run_logs/dev/orders/20251007T142219Z_RUN-000007-3f9a3f9"
    assert rec.aiop_path == f"aiop/dev/orders/3f9a3f9-{HASH}/RUN-000007"
    assert rec.build_manifest_path == f"build/pipelines/dev/orders/3f9a3f9-{HASH}/m.yaml"
    assert rec.profile is None
    assert rec.extra == {"writer": "osiris 0.2"}
    assert str(reader.resolve_path(rec.run_logs_path)) == str(
        run_dir
    )  # upper-case id, lower-case dir
    assert str(reader.resolve_path(rec.aiop_path)) == str(aiop_dir)
    assert str(reader.resolve_path(rec.build_manifest_path)) == str(manifest)
    assert str(reader.resolve_path(legacy["run_logs_path"])) == str(run_dir)
    assert reader.query() == [rec]


def test_existing_absolute_paths_are_kept_or_made_relative(fs, reader, writer):
    fs.create_dir(BASE / "run_logs" / "dev" / "r1")
    fs.create_dir("/elsewhere/aiop/r1")
    writer.append(
        record(
            "r1",
            run_logs_path=str(BASE / "run_logs" / "dev" / "r1"),
            aiop_path="/elsewhere/aiop/r1",
            build_manifest_path="/gone/without/anchor.yaml",
        )
    )
    # Outside the project, a path is kept only inside a configured folder (an absolute
    # aiop_dir); anywhere else it is read as a moved project's, from its contract folder on.
    rec = RunIndexReader(INDEX, BASE, roots=[Path("/elsewhere/aiop")]).get("r1")
    assert rec.run_logs_path == "run_logs/dev/r1"
    assert rec.aiop_path == "/elsewhere/aiop/r1"
    assert rec.build_manifest_path == "/gone/without/anchor.yaml"
    configured = RunIndexReader(INDEX, BASE, roots=[Path("/elsewhere/aiop")])
    assert str(configured.resolve_path(rec.aiop_path)) == str(Path("/elsewhere/aiop/r1"))
    assert reader.get("r1").aiop_path == "aiop/r1"
    assert reader.resolve_path("/gone/without/anchor.yaml") is None
    assert reader.is_outside("/gone/without/anchor.yaml")


def test_resolve_path_edge_cases(fs, reader):
    assert reader.resolve_path(None) is None
    assert reader.resolve_path("") is None
    assert reader.resolve_path("run_logs/../../etc/passwd") is None
    assert str(reader.resolve_path("run_logs/dev/missing")) == str(
        BASE / "run_logs" / "dev" / "missing"
    )
    assert str(reader.resolve_path("run_logs\\dev\\x")) == str(BASE / "run_logs" / "dev" / "x")


# --- concurrency --------------------------------------------------------------------------

INDEX_WORKER = r"""
import sys, time
from pathlib import Path
from osiris.core.run_index import RunIndexWriter, RunRecord

index, go, worker = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
writer = RunIndexWriter(index)
while not go.exists():
    time.sleep(0.001)
for i in range(50):
    writer.append(
        RunRecord(
            run_id=f"w{worker}-{i:03d}",
            pipeline_slug=("alpha", "beta", "gamma")[(worker + i) % 3],
            status="success",
            extra={"pad": "x" * 6000},  # larger than a pipe buffer: writes can interleave
        )
    )
"""


@pytest.mark.slow
def test_concurrent_appends_from_real_processes(tmp_path):
    index, go = tmp_path / "index", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen([sys.executable, "-c", INDEX_WORKER, str(index), str(go), str(n)], env=env)
        for n in range(8)
    ]
    go.touch()
    for worker in workers:
        assert worker.wait(timeout=120) == 0

    runs_lines = lines_of(index / "runs.jsonl")
    assert len(runs_lines) == 400
    parsed = [json.loads(line) for line in runs_lines]
    expected = {f"w{w}-{i:03d}" for w in range(8) for i in range(50)}
    assert {p["run_id"] for p in parsed} == expected
    per_pipeline = {}
    for slug in ("alpha", "beta", "gamma"):
        per_pipeline[slug] = lines_of(index / "by_pipeline" / f"{slug}.jsonl")
        assert set(per_pipeline[slug]) == {
            line for line, p in zip(runs_lines, parsed, strict=True) if p["pipeline_slug"] == slug
        }
    assert sum(len(v) for v in per_pipeline.values()) == 400

    reader = RunIndexReader(index, tmp_path)
    runs = reader.query()
    assert len(runs) == 400
    assert reader.warnings == []
    for w in range(8):
        mine = [r.run_id for r in runs if r.run_id.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i:03d}" for i in range(49, -1, -1)]


# --- property: the reverse fold equals a plain forward fold -------------------------------

RUN_IDS = [f"r{i}" for i in range(6)]
op = st.one_of(
    st.tuples(
        st.just("base"),
        st.sampled_from(RUN_IDS),
        st.sampled_from(["success", "failed"]),
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        st.sampled_from([None, "dev", "prod"]),
    ),
    st.tuples(
        st.just("update"),
        st.sampled_from(RUN_IDS),
        st.sampled_from([None, "failed"]),
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        st.none(),
    ),
)


def slug_of(run_id: str) -> str:
    return ("alpha", "beta")[int(run_id[1:]) % 2]


def as_line(kind, run_id, status, tags, profile) -> dict:
    if kind == "base":
        return record(run_id, slug_of(run_id), status=status, tags=tuple(tags), profile=profile)
    fields = {"tags": tags} if status is None else {"status": status}
    return {"run_id": run_id, "pipeline_slug": slug_of(run_id), "kind": "update", **fields}


def forward_fold(path: Path) -> list[RunRecord]:
    runs: dict[str, tuple[int, dict]] = {}
    for position, line in enumerate(path.read_bytes().splitlines()):
        data = json.loads(line)
        if data.get("kind") != "update":
            runs[data["run_id"]] = (position, data)
        elif data["run_id"] in runs:
            for key in ("kind", "recorded_at"):
                data.pop(key, None)
            runs[data["run_id"]][1].update(data)
    return newest_first(RunRecord.from_dict(data) for _, data in runs.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(op, min_size=1, max_size=4), min_size=1, max_size=8))
def test_reverse_fold_equals_forward_fold(batches):
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp)
        writer = RunIndexWriter(index)
        for batch in batches:
            if len(batch) == 1 and batch[0][0] == "update":
                _, run_id, status, tags, _ = batch[0]
                fields = {"tags": tags} if status is None else {"status": status}
                writer.append_update(run_id, slug_of(run_id), **fields)
            else:
                writer.append_many(as_line(*item) for item in batch)
        reader = RunIndexReader(index, index)
        expected = forward_fold(index / "runs.jsonl")
        assert reader.query() == expected
        for k in range(len(expected) + 2):
            assert reader.query(limit=k) == expected[:k]
        for slug in ("alpha", "beta"):
            assert reader.query(pipeline=slug) == [r for r in expected if r.pipeline_slug == slug]
        assert reader.query(tag="a") == [r for r in expected if "a" in r.tags]
        assert reader.warnings == []


def test_a_torn_per_pipeline_file_never_hides_a_run(writer, reader):
    writer.append(record("r1", started_at=T0))
    writer.append(record("r2", started_at="2025-10-07T13:00:00.000Z"))
    # A kill tore r2's line in by_pipeline/orders.jsonl; runs.jsonl holds it whole.
    by_pipeline = INDEX / "by_pipeline" / "orders.jsonl"
    lines = by_pipeline.read_bytes().splitlines(keepends=True)
    by_pipeline.write_bytes(lines[0] + lines[1][:20])
    writer.append(record("r3", started_at="2025-10-07T14:00:00.000Z"))  # seals the torn line
    assert ids(reader.query(pipeline="orders")) == ["r3", "r2", "r1"]
    assert reader.warnings == [".osiris/index/by_pipeline/orders.jsonl: skipped a damaged line 2"]


def test_a_failed_append_takes_back_every_file(writer, monkeypatch):
    writer.append(record("r1"))
    before = {p: p.read_bytes() for p in INDEX.rglob("*.jsonl")}
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if str(path).endswith("by_pipeline/orders.jsonl") and "a" in mode:
            raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk)
    with pytest.raises(OperationFailed, match=r"could not be written \(No space left") as failed:
        writer.append(record("r2"))
    monkeypatch.undo()
    assert failed.value.exit_code == 1
    assert {p: p.read_bytes() for p in INDEX.rglob("*.jsonl")} == before


def test_two_pipelines_sharing_a_run_id_are_two_runs(tmp_path: Path) -> None:
    # Run ids count per pipeline: both run-000001s are listed, and each keeps its own tags.
    writer = RunIndexWriter(tmp_path)
    writer.append(RunRecord(run_id="run-000001", pipeline_slug="orders", status="success"))
    writer.append(RunRecord(run_id="run-000001", pipeline_slug="users", status="failed"))
    writer.append_update("run-000001", "orders", tags=["keep"])
    reader = RunIndexReader(tmp_path, tmp_path)
    listed = [(r.pipeline_slug, r.status, r.tags) for r in reader.query()]
    assert listed == [("users", "failed", ()), ("orders", "success", ("keep",))]
    with pytest.raises(AmbiguousRunId) as info:
        reader.get("run-000001")
    assert info.value.message == (
        "run id 'run-000001' matches 2 runs: users/run-000001, orders/run-000001"
    )
    assert reader.get("users/RUN-000001").status == "failed"
    assert reader.get("orders/run-000001").tags == ("keep",)
