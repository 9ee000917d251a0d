"""The reader interface: contract source, catalog merging (with a legacy-shaped source),
prefix lookups, folders on disk, log tails and follow, pack export, tags, light config."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_index import AmbiguousRunId, RunIndexReader, RunIndexWriter, RunRecord
from osiris.core.run_sources import (
    UNFINISHED,
    ContractSource,
    ProjectDirs,
    RunCatalog,
    RunFilter,
    RunFolder,
    catalog_for,
    export_pack,
    follow_log,
    light_dirs,
    parse_moment,
    read_log,
    tag_runs,
)
from osiris.errors import EXIT_BAD_INPUT, NotFound, UsageError

HASH = "3f9a" * 16


def record(run_id: str, started: str, slug: str = "orders", **values: Any) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        pipeline_slug=slug,
        profile="dev",
        manifest_hash=HASH,
        started_at=started,
        finished_at=started.replace(":00.000Z", ":05.000Z"),
        status="success",
        run_logs_path=f"run_logs/dev/{slug}/{run_id}",
        aiop_path=f"aiop/dev/{slug}/{HASH[:7]}-{HASH}/{run_id}",
        **values,
    )


def write_run(
    base: Path, rec: RunRecord, *, ended: bool = True, log_lines: Iterable[str] = ()
) -> Path:
    """A run-log folder as the runner writes it (run_start first, run_end last)."""
    folder = base / (rec.run_logs_path or f"run_logs/{rec.run_id}")
    folder.mkdir(parents=True)
    events = [
        {
            "ts": rec.started_at,
            "session": rec.run_id,
            "event": "run_start",
            "run_id": rec.run_id,
            "pipeline_slug": rec.pipeline_slug,
            "profile": rec.profile,
            "manifest_hash": rec.manifest_hash,
            "tags": list(rec.tags),
        },
        {"ts": rec.started_at, "session": rec.run_id, "event": "step_start", "step_id": "a"},
    ]
    if ended:
        events.append(
            {
                "ts": rec.finished_at,
                "session": rec.run_id,
                "event": "run_end",
                "status": rec.status,
                "duration_ms": 5000,
            }
        )
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (folder / "metrics.jsonl").write_text('{"metric": "rows_read", "value": 3}\n')
    (folder / "osiris.log").write_text("".join(f"{line}\n" for line in log_lines))
    return folder


def dirs_of(base: Path) -> ProjectDirs:
    return ProjectDirs(base, base / ".osiris/index", base / "run_logs", base / "aiop")


def contract_source(base: Path) -> ContractSource:
    return ContractSource(base, base / ".osiris/index", base / "run_logs", base / "aiop")


def index(base: Path, *records: RunRecord) -> None:
    RunIndexWriter(base / ".osiris/index").append_many(records)


class LegacyStub:
    """A second source shaped like the compat layer's legacy source."""

    name = "legacy"

    def __init__(self, base: Path, records: list[RunRecord]) -> None:
        self.base = base
        self.records = [replace(r, source="legacy") for r in records]
        self.warnings: list[str] = []

    def runs(self, run_filter: RunFilter) -> list[RunRecord]:
        self.warnings = ["logs/run_1: skipped a damaged line 3"]
        found = [r for r in self.records if run_filter.matches(r)]
        return found[: run_filter.limit] if run_filter.limit else found

    def get(self, run_id_or_prefix: str) -> RunRecord:
        wanted = run_id_or_prefix.lower()
        exact = [r for r in self.records if r.run_id.lower() == wanted]
        found = exact or [r for r in self.records if r.run_id.lower().startswith(wanted)]
        if not found:
            raise NotFound("not in the legacy layout")
        if len(found) > 1:
            raise AmbiguousRunId(run_id_or_prefix, found)
        return found[0]

    def resolve_path(self, stored: str | None) -> Path | None:
        return self.base / "legacy-root" / stored if stored else None

    def log_folders(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        return []

    def packs(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        return []


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "proj"


# -- filters ------------------------------------------------------------------------------


def test_a_filter_checks_every_field(base: Path) -> None:
    rec = record("r1", "2025-10-07T10:00:00.000Z", tags=("nightly",))
    assert RunFilter().matches(rec)
    assert RunFilter(pipeline="orders", profile="dev", status="success", tag="nightly").matches(rec)
    assert not RunFilter(pipeline="users").matches(rec)
    assert not RunFilter(profile="prod").matches(rec)
    assert not RunFilter(status="failed").matches(rec)
    assert not RunFilter(tag="weekly").matches(rec)
    assert RunFilter(since=parse_moment("2025-10-07T10:00:00Z")).matches(rec)
    assert not RunFilter(since=parse_moment("2025-10-07T10:00:01Z")).matches(rec)
    assert not RunFilter(since=parse_moment("2000-01-01")).matches(replace(rec, started_at=None))


# -- the contract source and the catalog ------------------------------------------------------


def test_the_contract_source_reads_the_index_and_reports_damage(base: Path) -> None:
    index(base, record("r1", "2025-10-07T10:00:00.000Z"), record("r2", "2025-10-07T11:00:00.000Z"))
    with open(base / ".osiris/index/runs.jsonl", "a") as handle:
        handle.write("{torn\n")
    catalog = catalog_for(dirs_of(base))
    assert [r.run_id for r in catalog.runs(RunFilter())] == ["r2", "r1"]
    assert catalog.warnings == ["runs.jsonl: skipped a damaged line 3"]


def test_an_empty_project_has_no_runs(base: Path) -> None:
    base.mkdir()
    assert catalog_for(dirs_of(base)).runs(RunFilter(limit=20)) == []


def test_one_source_keeps_the_index_order(base: Path) -> None:
    # r-long started first but finished last, so the index recorded it last.
    index(base, record("r-short", "2025-10-07T10:05:00.000Z"))
    index(base, record("r-long", "2025-10-07T10:00:00.000Z"))
    runs = catalog_for(dirs_of(base)).runs(RunFilter())
    assert [r.run_id for r in runs] == ["r-long", "r-short"]


def test_a_second_source_merges_newest_first_and_the_first_wins_a_tie(base: Path) -> None:
    index(
        base,
        record("c-old", "2025-10-01T10:00:00.000Z"),
        record("c-new", "2025-10-09T10:00:00.000Z"),
        record("shared", "2025-10-05T10:00:00.000Z"),
    )
    legacy = LegacyStub(
        base,
        [
            record("l-mid", "2025-10-04T10:00:00.000Z"),
            record("SHARED", "2025-10-05T10:00:00.000Z"),
            record("l-undated", "2025-10-04T10:00:00.000Z", slug="users"),
        ],
    )
    legacy.records[2] = replace(legacy.records[2], started_at=None)
    catalog = RunCatalog([contract_source(base), legacy])
    runs = catalog.runs(RunFilter())
    assert [(r.run_id, r.source) for r in runs] == [
        ("c-new", "contract"),
        ("shared", "contract"),
        ("l-mid", "legacy"),
        ("c-old", "contract"),
        ("l-undated", "legacy"),
    ]
    assert catalog.warnings == ["logs/run_1: skipped a damaged line 3"]
    assert [r.run_id for r in catalog.runs(RunFilter(limit=2))] == ["c-new", "shared"]
    assert [r.run_id for r in catalog.runs(RunFilter(pipeline="users"))] == ["l-undated"]


def test_a_catalog_needs_a_source() -> None:
    with pytest.raises(ValueError):
        RunCatalog([])


def two_sources(base: Path) -> RunCatalog:
    index(
        base,
        record("run-000001_AAAA", "2025-10-01T10:00:00.000Z"),
        record("run-000002_BBBB", "2025-10-02T10:00:00.000Z"),
    )
    legacy = LegacyStub(
        base,
        [
            record("run_1728000000000", "2025-10-03T10:00:00.000Z"),
            record("run-000002", "2025-09-30T10:00:00.000Z"),
        ],
    )
    return RunCatalog([contract_source(base), legacy])


def test_get_matches_ids_and_prefixes_in_any_case_across_sources(base: Path) -> None:
    catalog = two_sources(base)
    assert catalog.get("RUN-000001").run_id == "run-000001_AAAA"
    assert catalog.get("run-000002_bbbb").source == "contract"
    found = catalog.get("run_1728")
    assert (found.run_id, found.source) == ("run_1728000000000", "legacy")
    # An exact id in the legacy source beats a longer contract id it is a prefix of.
    assert catalog.get("run-000002").source == "legacy"


def test_a_prefix_matching_runs_in_two_sources_is_ambiguous(base: Path) -> None:
    catalog = two_sources(base)
    with pytest.raises(AmbiguousRunId) as caught:
        catalog.get("run")
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert {c.run_id for c in caught.value.candidates} == {
        "run-000001_AAAA",
        "run-000002_BBBB",
        "run_1728000000000",
        "run-000002",
    }
    assert caught.value.hint == "type more of the run id"


def test_an_unknown_run_is_not_found_with_a_hint(base: Path) -> None:
    with pytest.raises(NotFound) as caught:
        two_sources(base).get("nope")
    assert caught.value.one_line() == (
        "no run 'nope' in the index (hint: osiris runs list shows run ids)"
    )
    with pytest.raises(UsageError):
        two_sources(base.parent / "other").get("  ")


def test_paths_resolve_in_the_source_that_holds_the_record(base: Path) -> None:
    catalog = two_sources(base)
    write_run(base, record("run-000001_AAAA", "2025-10-01T10:00:00.000Z"))
    contract = catalog.paths(catalog.get("run-000001"))
    assert contract["run_logs"].path == base / "run_logs/dev/orders/run-000001_AAAA"
    assert contract["run_logs"].exists and not contract["aiop"].exists
    assert contract["build_manifest"].stored is None and not contract["build_manifest"].exists
    legacy = catalog.paths(catalog.get("run_1728"))
    assert legacy["run_logs"].path == (base / "legacy-root/run_logs/dev/orders/run_1728000000000")


# -- folders on disk ------------------------------------------------------------------------


def test_log_folders_include_unindexed_runs_and_take_tags_from_the_index(base: Path) -> None:
    done = record("r-done", "2025-10-07T10:00:00.000Z", tags=("nightly",))
    running = record("r-running", "2025-10-07T11:00:00.000Z", slug="users")
    index(base, done)
    RunIndexWriter(base / ".osiris/index").append_update("r-done", "orders", tags=["kept"])
    write_run(base, done)
    write_run(base, running, ended=False)
    (base / "run_logs/dev/users/not-a-run").mkdir()
    folders = catalog_for(dirs_of(base)).log_folders(RunFilter())
    assert [(f.run_id, f.status, f.indexed, f.tags) for f in folders] == [
        ("r-running", UNFINISHED, False, ()),
        ("r-done", "success", True, ("kept",)),
    ]
    assert folders[1].to_dict(base) == {
        "run_id": "r-done",
        "pipeline_slug": "orders",
        "profile": "dev",
        "status": "success",
        "started_at": "2025-10-07T10:00:00.000Z",
        "finished_at": "2025-10-07T10:00:05.000Z",
        "tags": ["kept"],
        "path": "run_logs/dev/orders/r-done",
        "indexed": True,
        "source": "contract",
    }
    only_users = catalog_for(dirs_of(base)).log_folders(RunFilter(pipeline="users"))
    assert [f.run_id for f in only_users] == ["r-running"]


def test_a_folder_status_comes_from_status_json_before_run_end(base: Path) -> None:
    rec = record("r-ending", "2025-10-07T10:00:00.000Z")
    folder = write_run(base, rec, ended=False)
    (folder / "status.json").write_text('{"status": "failed"}')
    assert catalog_for(dirs_of(base)).log_folders(RunFilter())[0].status == "failed"


def test_joining_folders_reads_the_index_back_only_to_their_start(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2000 old runs, then one recent run with a folder, then an unindexed running folder.
    old = [record(f"old-{i:04d}", "2025-01-01T10:00:00.000Z") for i in range(2000)]
    recent = record("recent", "2025-10-07T10:00:00.000Z")
    index(base, *old, recent)
    write_run(base, recent)
    write_run(base, record("running", "2025-10-07T11:00:00.000Z"), ended=False)
    source = contract_source(base)
    limits: list[int | None] = []
    query = source.reader.query

    def counting(**kwargs: Any) -> list[RunRecord]:
        limits.append(kwargs.get("limit"))
        return query(**kwargs)

    monkeypatch.setattr(source.reader, "query", counting)
    folders = source.log_folders(RunFilter())
    assert [(f.run_id, f.indexed) for f in folders] == [("running", False), ("recent", True)]
    assert limits == [256]  # not the whole index, though "running" is in it nowhere


def test_a_run_log_folder_is_found_by_index_or_on_disk(base: Path) -> None:
    done = record("r-done-1", "2025-10-07T10:00:00.000Z")
    gone = record("r-gone-1", "2025-10-01T10:00:00.000Z")
    index(base, done, gone)
    write_run(base, done)
    write_run(base, record("r-running", "2025-10-07T11:00:00.000Z"), ended=False)
    catalog = catalog_for(dirs_of(base))
    assert catalog.log_folder("r-done").record is not None
    running = catalog.log_folder("r-run")
    assert (running.run_id, running.indexed) == ("r-running", False)
    with pytest.raises(NotFound) as caught:
        catalog.log_folder("r-gone")
    assert caught.value.one_line() == (
        "run_logs/dev/orders/r-gone-1: the run logs of run 'r-gone-1' are gone "
        "(hint: retention removes run logs after filesystem.retention.run_logs_days days)"
    )
    with pytest.raises(NotFound, match="no run 'zz' in the index or any run-log folder"):
        catalog.log_folder("zz")
    write_run(base, record("r-running-2", "2025-10-07T12:00:00.000Z"), ended=False)
    with pytest.raises(AmbiguousRunId):
        catalog.log_folder("r-runn")
    assert catalog.log_folder("r-running").run_id == "r-running"


def test_a_pack_is_found_by_index_or_on_disk(base: Path) -> None:
    indexed = record("r-1", "2025-10-07T10:00:00.000Z")
    index(base, indexed)
    with pytest.raises(NotFound) as caught:
        catalog_for(dirs_of(base)).pack("r-1")
    assert caught.value.hint == "osiris aiop export r-1 regenerates it from the run logs"
    loose = base / "aiop/dev/orders/abc/r-loose"
    loose.mkdir(parents=True)
    (loose / "summary.json").write_text(json.dumps({"run_id": "r-loose", "status": "failed"}))
    pack = catalog_for(dirs_of(base)).pack("r-lo")
    assert (pack.path, pack.status, pack.indexed) == (loose, "failed", False)
    packs = catalog_for(dirs_of(base)).packs(RunFilter(status="failed"))
    assert [p.run_id for p in packs] == ["r-loose"]


def test_damaged_folders_are_listed_with_what_could_be_read(base: Path) -> None:
    folder = base / "run_logs/dev/orders/r-bad"
    folder.mkdir(parents=True)
    start = {"event": "run_start", "run_id": 5, "ts": 7, "tags": "a+b", "profile": ["dev"]}
    (folder / "events.jsonl").write_text(json.dumps(start) + '\n{"event": "run_e')
    pack = base / "aiop/dev/orders/h/r-pack"
    pack.mkdir(parents=True)
    (pack / "summary.json").write_text("not json")
    catalog = catalog_for(dirs_of(base))
    [log] = catalog.log_folders(RunFilter())
    assert (log.run_id, log.status, log.profile, log.tags, log.started_at) == (
        "r-bad",
        UNFINISHED,
        None,
        (),
        None,
    )
    [found] = catalog.packs(RunFilter())
    assert (found.run_id, found.status, found.pipeline_slug) == ("r-pack", "unknown", "")


def test_folders_behind_links_are_not_entered(base: Path, tmp_path: Path) -> None:
    outside = write_run(tmp_path / "elsewhere", record("r-out", "2025-10-07T10:00:00.000Z"))
    (base / "run_logs/dev").mkdir(parents=True)
    (base / "run_logs/dev/linked").symlink_to(outside, target_is_directory=True)
    assert catalog_for(dirs_of(base)).log_folders(RunFilter()) == []


# -- log files ------------------------------------------------------------------------------


def test_read_log_gives_complete_lines_and_tails(base: Path) -> None:
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    folder = write_run(base, rec, log_lines=[f"line {i}" for i in range(5)])
    with open(folder / "osiris.log", "a") as handle:
        handle.write("half a li")
    run = catalog_for(dirs_of(base)).log_folder("r-1")
    whole = read_log(run)
    assert whole.lines == [f"line {i}" for i in range(5)]
    assert whole.end == len("".join(f"line {i}\n" for i in range(5)))
    assert read_log(run, tail=2).lines == ["line 3", "line 4"]
    assert read_log(run, tail=0).lines == []
    assert read_log(run, tail=50).lines == whole.lines
    assert json.loads(read_log(run, "metrics").lines[0])["value"] == 3
    assert json.loads(read_log(run, "events", tail=1).lines[0])["event"] == "run_end"


def test_tail_reads_only_the_end_of_a_big_file(base: Path) -> None:
    folder = write_run(base, record("r-1", "2025-10-07T10:00:00.000Z"))
    lines = [f"{i:08d} " + "x" * 100 for i in range(20000)]
    (folder / "osiris.log").write_text("".join(line + "\n" for line in lines))
    run = catalog_for(dirs_of(base)).log_folder("r-1")
    assert read_log(run, tail=3).lines == lines[-3:]


def test_a_missing_log_is_an_error_only_once_the_run_ended(base: Path) -> None:
    folder = write_run(base, record("r-1", "2025-10-07T10:00:00.000Z"))
    (folder / "osiris.log").unlink()
    with pytest.raises(NotFound, match=r"run 'r-1' has no osiris\.log"):
        read_log(catalog_for(dirs_of(base)).log_folder("r-1"))
    running = write_run(base, record("r-2", "2025-10-07T11:00:00.000Z"), ended=False)
    (running / "osiris.log").unlink()
    assert read_log(catalog_for(dirs_of(base)).log_folder("r-2")).lines == []


def test_follow_prints_new_lines_until_run_end(base: Path) -> None:
    folder = write_run(
        base, record("r-1", "2025-10-07T10:00:00.000Z"), ended=False, log_lines=["first"]
    )
    view = read_log(catalog_for(dirs_of(base)).log_folder("r-1"))

    def run() -> None:
        for i in range(3):
            time.sleep(0.05)
            with open(folder / "osiris.log", "a") as handle:
                handle.write(f"step {i}\n")
        with open(folder / "osiris.log", "a") as handle:
            handle.write("finished\n")
        with open(folder / "events.jsonl", "a") as handle:
            handle.write('{"event": "run_end", "status": "success"}\n')

    writer = threading.Thread(target=run)
    writer.start()
    followed = list(follow_log(view, poll=0.01))
    writer.join()
    assert view.lines == ["first"]
    assert followed == ["step 0", "step 1", "step 2", "finished"]


def test_follow_of_a_finished_run_returns_at_once(base: Path) -> None:
    write_run(base, record("r-1", "2025-10-07T10:00:00.000Z"), log_lines=["a", "b"])
    view = read_log(catalog_for(dirs_of(base)).log_folder("r-1"), tail=1)
    slept: list[float] = []
    assert list(follow_log(view, sleep=slept.append)) == []
    assert slept == []


# -- pack export ----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> FilesystemContract:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "osiris.yaml").write_text("{}\n")
    return FilesystemContract.from_resolved(load_config(root))


def test_export_zips_the_pack_in_sorted_order_with_fixed_times(
    project: FilesystemContract, tmp_path: Path
) -> None:
    base = project.base_path
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    index(base, rec)
    pack = base / rec.aiop_path
    (pack / "annex").mkdir(parents=True)
    (pack / "summary.json").write_text('{"run_id": "r-1"}\n')
    (pack / "run-card.md").write_text("# Run r-1\n")
    (pack / "annex/events.ndjson").write_text("{}\n")
    (pack / "annex/linked.ndjson").symlink_to(tmp_path / "secret")
    catalog = catalog_for(ProjectDirs.from_contract(project))
    first = export_pack(catalog, project, "r-1", tmp_path / "a.zip", cwd=tmp_path)
    second = export_pack(catalog, project, "r-1", None, cwd=tmp_path)
    assert second.zip_path == tmp_path / "r-1-aiop.zip"
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()
    with zipfile.ZipFile(first.zip_path) as archive:
        assert archive.namelist() == [
            "r-1/annex/events.ndjson",
            "r-1/run-card.md",
            "r-1/summary.json",
        ]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("r-1/summary.json") == b'{"run_id": "r-1"}\n'
    assert not first.regenerated
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    assert export_pack(catalog, project, "r-1", out_dir, cwd=tmp_path).zip_path == (
        out_dir / "r-1-aiop.zip"
    )


def test_export_never_overwrites(project: FilesystemContract, tmp_path: Path) -> None:
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    index(project.base_path, rec)
    (project.base_path / rec.aiop_path).mkdir(parents=True)
    (project.base_path / rec.aiop_path / "summary.json").write_text("{}")
    (tmp_path / "taken.zip").write_bytes(b"mine")
    catalog = catalog_for(ProjectDirs.from_contract(project))
    with pytest.raises(UsageError, match="already exists; an export never overwrites a file"):
        export_pack(catalog, project, "r-1", tmp_path / "taken.zip", cwd=tmp_path)
    assert (tmp_path / "taken.zip").read_bytes() == b"mine"
    with pytest.raises(UsageError, match="no such folder"):
        export_pack(catalog, project, "r-1", tmp_path / "none/x.zip", cwd=tmp_path)


def test_a_missing_pack_is_rebuilt_from_the_run_logs_into_its_home(
    project: FilesystemContract, tmp_path: Path
) -> None:
    base = project.base_path
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    index(base, rec)
    write_run(base, rec)
    catalog = catalog_for(ProjectDirs.from_contract(project))
    result = export_pack(catalog, project, "r-1", None, cwd=tmp_path)
    home = base / rec.aiop_path
    assert (result.regenerated, result.pack_dir) == (True, home)
    summary = json.loads((home / "summary.json").read_text())
    assert (summary["run_id"], summary["status"]) == ("r-1", "success")
    assert result.files == (
        "annex/errors.ndjson",
        "annex/events.ndjson",
        "annex/metrics.ndjson",
        "run-card.md",
        "summary.json",
    )
    # The rebuilt pack is kept: the next export zips it as it is.
    again = export_pack(catalog, project, "r-1", tmp_path / "again.zip", cwd=tmp_path)
    assert not again.regenerated


def test_an_unindexed_run_gets_its_pack_at_the_contract_path(
    project: FilesystemContract, tmp_path: Path
) -> None:
    rec = record("r-loose", "2025-10-07T10:00:00.000Z")
    write_run(project.base_path, rec)
    catalog = catalog_for(ProjectDirs.from_contract(project))
    result = export_pack(catalog, project, "r-loose", None, cwd=tmp_path)
    expected = project.base_path / f"aiop/dev/orders/{HASH[:7]}-{HASH}/r-loose"
    assert result.pack_dir == expected and (expected / "summary.json").is_file()


def test_export_refuses_unfinished_runs_and_runs_with_nothing_left(
    project: FilesystemContract, tmp_path: Path
) -> None:
    base = project.base_path
    write_run(base, record("r-running", "2025-10-07T10:00:00.000Z"), ended=False)
    index(base, record("r-gone", "2025-10-01T10:00:00.000Z"))
    catalog = catalog_for(ProjectDirs.from_contract(project))
    with pytest.raises(UsageError, match="has not ended"):
        export_pack(catalog, project, "r-running", None, cwd=tmp_path)
    with pytest.raises(NotFound) as caught:
        export_pack(catalog, project, "r-gone", None, cwd=tmp_path)
    assert caught.value.one_line() == (
        "run 'r-gone' has neither an AIOP pack nor run logs "
        "(hint: osiris aiop list and osiris logs list show what is on disk)"
    )
    assert not (base / "aiop").exists() and list(tmp_path.glob("*.zip")) == []


# -- tags -----------------------------------------------------------------------------------


def test_tags_are_appended_as_update_records(base: Path) -> None:
    index(
        base,
        record("r-1", "2025-10-01T10:00:00.000Z", tags=("a",)),
        record("r-2", "2025-10-02T10:00:00.000Z", tags=("a", "b")),
        record("u-1", "2025-10-03T10:00:00.000Z", slug="users"),
    )
    catalog = catalog_for(dirs_of(base))
    index_dir = base / ".osiris/index"
    latest = tag_runs(catalog, index_dir, "orders", add=["x"], remove=["b"])
    assert [(c.run_id, c.before, c.after) for c in latest] == [("r-2", ("a", "b"), ("a", "x"))]
    everything = tag_runs(catalog, index_dir, "orders", all_runs=True, add=["y"])
    assert [(c.run_id, c.after) for c in everything] == [
        ("r-2", ("a", "x", "y")),
        ("r-1", ("a", "y")),
    ]
    one = tag_runs(catalog, index_dir, "orders", run_id="r-1", remove=["a"])
    assert one[0].after == ("y",)
    reader = RunIndexReader(index_dir, base)
    assert [(r.run_id, r.tags) for r in reader.query(pipeline="orders")] == [
        ("r-2", ("a", "x", "y")),
        ("r-1", ("y",)),
    ]
    assert [r.run_id for r in reader.query(tag="y")] == ["r-2", "r-1"]
    updates = [
        json.loads(x) for x in (index_dir / "by_pipeline/orders.jsonl").read_text().splitlines()
    ]
    assert [u.get("kind") for u in updates] == [None, None, "update", "update", "update", "update"]
    assert set(updates[-1]) == {"run_id", "pipeline_slug", "tags", "kind", "recorded_at"}


def test_tagging_without_a_change_writes_nothing(base: Path) -> None:
    index(base, record("r-1", "2025-10-01T10:00:00.000Z", tags=("a",)))
    runs_file = base / ".osiris/index/runs.jsonl"
    before = runs_file.read_bytes()
    changes = tag_runs(catalog_for(dirs_of(base)), base / ".osiris/index", "orders", add=["a"])
    assert not changes[0].changed and runs_file.read_bytes() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "nothing to do (hint: pass --add TAG and/or --remove TAG)"),
        ({"add": ["a b"]}, "tag 'a b' is not allowed"),
        ({"add": ["+x"]}, "tag '+x' is not allowed"),
        ({"add": ["a"], "remove": ["a"]}, "tag 'a' is both added and removed (hint: pass it once)"),
        ({"add": ["a"], "run_id": "r-1", "all_runs": True}, "--run and --all exclude each other"),
        (
            {"add": ["a"], "run_id": "u-1"},
            "run 'u-1' belongs to pipeline 'users', not 'orders' "
            "(hint: osiris pipelines tag users --run u-1)",
        ),
    ],
)
def test_bad_tag_requests_are_refused(base: Path, kwargs: dict[str, Any], message: str) -> None:
    index(
        base,
        record("r-1", "2025-10-01T10:00:00.000Z"),
        record("u-1", "2025-10-01T10:00:00.000Z", slug="users"),
    )
    before = (base / ".osiris/index/runs.jsonl").read_bytes()
    with pytest.raises(UsageError) as caught:
        tag_runs(catalog_for(dirs_of(base)), base / ".osiris/index", "orders", **kwargs)
    assert caught.value.one_line().startswith(message)
    assert (base / ".osiris/index/runs.jsonl").read_bytes() == before


def test_a_pipeline_without_runs_cannot_be_tagged(base: Path) -> None:
    base.mkdir()
    with pytest.raises(NotFound, match="pipeline 'orders' has no runs"):
        tag_runs(catalog_for(dirs_of(base)), base / ".osiris/index", "orders", add=["a"])


def test_legacy_runs_cannot_be_tagged(base: Path) -> None:
    catalog = RunCatalog(
        [contract_source(base), LegacyStub(base, [record("run_17", "2025-10-01T10:00:00.000Z")])]
    )
    with pytest.raises(UsageError) as caught:
        tag_runs(catalog, base / ".osiris/index", "orders", add=["a"])
    assert caught.value.hint == "osiris migrate plan moves it into the contract layout"
    assert not (base / ".osiris/index/runs.jsonl").exists()


# -- reading osiris.yaml light ---------------------------------------------------------------

CONFIGS = [
    {},
    {"filesystem": None},
    {"filesystem": {"base_path": "data root", "index_dir": "state/idx"}},
    {"filesystem": {"base_path": "/abs/elsewhere", "run_logs_dir": "/var/osiris/logs"}},
    {"filesystem": {"base_path": "~/osiris-home", "aiop_dir": "packs/./ai"}},
    {"filesystem": {"base_path": None, "aiop_dir": None}, "compat": {"read_fallback": False}},
    {"filesystem": {"profiles": {"default": "dev"}, "naming": {"run_dir": "{run_id}"}}},
]
ENVS = [
    {},
    {"OSIRIS_BASE_PATH": "alias"},
    {"OSIRIS_FILESYSTEM_BASE": "primary", "OSIRIS_BASE_PATH": "x"},
]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("config", CONFIGS)
def test_light_dirs_equal_the_full_configuration(
    tmp_path: Path, config: dict[str, Any], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    (root / "osiris.yaml").write_text(yaml.safe_dump(config))
    full = ProjectDirs.from_contract(
        FilesystemContract.from_resolved(load_config(None, cwd=root / "sub", env=env))
    )
    assert light_dirs(None, cwd=root / "sub", env=env) == full
    assert light_dirs(root, env=env) == full


@pytest.mark.parametrize(
    "text",
    [
        "filesystem: [a, b]\n",
        "- a\n",
        "filesystem: {base_path: 3}\n",
        "filesystem: {index_dir: ../outside}\n",
        "filesystem: {run_logs_dir: '.'}\n",
        "compat: {read_fallback: 'yes'}\n",
        "filesystem: {base_path: [\n",
    ],
)
def test_light_dirs_leave_anything_unusual_to_the_full_loader(tmp_path: Path, text: str) -> None:
    (tmp_path / "osiris.yaml").write_text(text)
    assert light_dirs(tmp_path, env={}) is None


def test_light_dirs_need_a_project(tmp_path: Path) -> None:
    assert light_dirs(tmp_path, env={}) is None
    assert light_dirs(None, cwd=tmp_path, env={}) is None
