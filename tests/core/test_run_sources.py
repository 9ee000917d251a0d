"""The reader interface: contract source, catalog merging (with a legacy-shaped source),
prefix lookups, folders on disk, log tails and follow, pack export, tags, light config."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_index import AmbiguousRunId, RunIndexWriter, RunRecord
from osiris.core.run_sources import (
    UNFINISHED,
    ProjectDirs,
    RunCatalog,
    RunFilter,
    catalog_for,
    light_dirs,
    parse_moment,
)
from osiris.errors import EXIT_BAD_INPUT, NotFound, UsageError
from tests.helpers.runs import LegacyStub, contract_source, dirs_of, index, record, write_run


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
    assert catalog.warnings == [".osiris/index/runs.jsonl: skipped a damaged line 3"]


def test_an_empty_project_has_no_runs(base: Path) -> None:
    base.mkdir()
    assert catalog_for(dirs_of(base)).runs(RunFilter(limit=20)) == []


def test_runs_list_by_start_not_by_index_order(base: Path) -> None:
    # r-long started first but finished last, so the index recorded it last.
    index(base, record("r-short", "2025-10-07T10:05:00.000Z"))
    index(base, record("r-long", "2025-10-07T10:00:00.000Z"))
    runs = catalog_for(dirs_of(base)).runs(RunFilter())
    assert [r.run_id for r in runs] == ["r-short", "r-long"]


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
    assert caught.value.hint == "type more of the run id, or PIPELINE/RUN_ID as listed"


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
    resolved = load_config(None, cwd=root / "sub", env=env)
    full = ProjectDirs.from_contract(FilesystemContract.from_resolved(resolved))
    # A missing base path named in the file is left to the full loader, which warns.
    expected = None if resolved.base_path_problem() else full
    assert light_dirs(None, cwd=root / "sub", env=env) == expected
    assert light_dirs(root, env=env) == expected
    # What a rollback takes from either (it reads the light folders: no pydantic).
    contract = FilesystemContract.from_resolved(resolved)
    for home in (full, light_dirs(root, env=env) or full):
        assert (home.osiris_dir, home.migrations_dir, home.last_compile_pointer) == (
            contract.osiris_dir,
            contract.migrations_dir,
            contract.last_compile_pointer,
        )
        for path in (contract.index_dir / "latest/a.txt", tmp_path / "elsewhere/b"):
            assert home.relative(path) == contract.relative(path)


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
