"""Read fallback (compat.md §2): the legacy source over `logs/`, its catalog, the deprecation
line, and the legacy build lookup of `run --pipeline`."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from osiris.compat import fallback, legacy_session
from osiris.compat.fallback import DEPRECATION, LegacySource, catalog_for, newest_build
from osiris.compat.legacy_layout import SessionKind
from osiris.core.fs_config import load_config
from osiris.core.profile_map import ProfileMap
from osiris.core.run_index import AmbiguousRunId
from osiris.core.run_sources import RunFilter
from osiris.errors import NotFound, OsirisError
from tests.helpers.legacy import ALL_QUIRKS, make_legacy_project
from tests.helpers.runs import contract_source, dirs_of, index, record

_DEV = ProfileMap(enabled=True, values=("dev", "staging", "prod"), default="dev")
_OFF = ProfileMap(enabled=False, values=("dev",), default=None)

if TYPE_CHECKING:
    from collections.abc import Callable

    from osiris.core.fs_config import ResolvedConfig

RUN = "run_1759838400000"  # 2025-10-07T12:00:00Z


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The deprecation line is once per process; each test stands for a new process.
    monkeypatch.setattr(fallback, "_announced", False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    return folder


def config_of(root: Path) -> Callable[[], ResolvedConfig]:
    """The project's configuration (profiles on, default `dev`), writing its osiris.yaml.

    The file comes after the legacy tree: the legacy-write guard refuses writes under
    `logs/` of a project in contract mode.
    """
    config = root / "osiris.yaml"
    if not config.exists():
        config.write_text("{}\n")
    return lambda: load_config(root, env={})


def source(root: Path) -> LegacySource:
    return LegacySource(root, config_of(root), contract=contract_source(root))


def write_session(root: Path, sid: str, first: dict[str, Any] | None) -> Path:
    """A run session of two events, the first one given (None: no events.jsonl at all)."""
    path = root / "logs" / sid
    (path / "artifacts").mkdir(parents=True)
    if first is not None:
        events = [
            {"ts": "2025-10-07T12:00:00.000Z", "session": sid, **first},
            {"ts": "2025-10-07T12:00:01.000Z", "session": sid, "event": "run_complete"},
        ]
        (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def write_aiop(root: Path, name: str, text: str) -> Path:
    path = root / "logs" / "aiop" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- cost -----------------------------------------------------------------------------------


def test_without_logs_a_listing_costs_one_lstat_and_no_configuration(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_config() -> Any:
        raise AssertionError("the configuration is loaded only for a legacy hit")

    legacy = LegacySource(root, no_config, contract=contract_source(root))
    calls: list[str] = []
    real_lstat, real_scandir = os.lstat, os.scandir
    with monkeypatch.context() as patch:
        patch.setattr(os, "lstat", lambda p, *a, **k: calls.append(str(p)) or real_lstat(p))
        patch.setattr(os, "scandir", lambda p: calls.append(f"scandir {p}") or real_scandir(p))
        found = legacy.runs(RunFilter(limit=20))
    assert (found, calls) == ([], [str(root / "logs")])
    assert legacy.log_folders(RunFilter()) == legacy.packs(RunFilter()) == []


def test_a_limited_listing_reads_only_the_newest_sessions(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = make_legacy_project(root, sessions=5)
    read: list[str] = []
    real = legacy_session.read_session
    monkeypatch.setattr(legacy_session, "read_session", lambda p: read.append(p.name) or real(p))
    found = source(root).runs(RunFilter(limit=2))
    newest = sorted(s.session_id for s in info.of_kind(SessionKind.RUN))[-2:][::-1]
    assert [r.run_id for r in found] == read == newest


# -- runs -----------------------------------------------------------------------------------


def test_every_run_of_a_damaged_project_is_listed_with_warnings(root: Path) -> None:
    info = make_legacy_project(root, quirks=ALL_QUIRKS)
    legacy = source(root)
    found = legacy.runs(RunFilter())
    runs = {s.session_id: s for s in info.of_kind(SessionKind.RUN)}
    assert sorted(r.run_id for r in found) == sorted(runs)
    assert [r.started_at for r in found] == sorted((r.started_at for r in found), reverse=True)
    for rec in found:
        expected = runs[rec.run_id]
        assert (rec.source, rec.fs_mode, rec.legacy_session_id) == ("legacy", "legacy", rec.run_id)
        assert rec.status == ("failed" if expected.status == "interrupted" else expected.status)
        assert rec.profile == (expected.profile or "dev")  # null / "default" read as the default
        assert (rec.rows_in, rec.rows_out) == (expected.rows_in, expected.rows_out)
    damaged = [d for d in info.damaged if d.startswith("logs/run_")]
    assert damaged and all(any(w.startswith(d) for w in legacy.warnings) for d in damaged)


def test_filters_apply_to_legacy_records(root: Path) -> None:
    info = make_legacy_project(
        root, sessions=4, quirks={"failed_run", "null_profile", "named_profile"}
    )
    runs = info.of_kind(SessionKind.RUN)
    legacy = source(root)

    def ids(**wanted: Any) -> set[str]:
        return {r.run_id for r in legacy.runs(RunFilter(**wanted))}

    assert ids(status="failed") == {s.session_id for s in runs if s.status == "failed"}
    assert ids(profile="prod") == {s.session_id for s in runs if s.profile == "prod"}
    assert ids(profile="dev") == {s.session_id for s in runs if s.profile is None}
    assert ids(profile="prod") and ids(profile="dev")
    assert ids(profile="staging") == set()


def test_get_takes_an_exact_id_in_any_case_or_a_unique_prefix(root: Path) -> None:
    info = make_legacy_project(root, sessions=3)
    ids = sorted(s.session_id for s in info.of_kind(SessionKind.RUN))
    legacy = source(root)
    assert legacy.get(ids[0].upper()).run_id == ids[0]
    assert legacy.get(ids[1][:-1]).run_id == ids[1]  # unique: the ids differ in their last digits
    with pytest.raises(AmbiguousRunId) as ambiguous:
        legacy.get("run_")
    assert sorted(c.run_id for c in ambiguous.value.candidates) == ids
    with pytest.raises(NotFound, match="no run 'run_9' in the legacy layout"):
        legacy.get("run_9")


def test_paths_resolve_inside_the_project_only(root: Path) -> None:
    legacy = source(root)
    assert legacy.resolve_path("logs/run_1") == root / "logs/run_1"
    assert legacy.resolve_path("logs/../../etc") is None
    assert legacy.resolve_path(None) is None


# -- run-log folders and packs --------------------------------------------------------------


def test_session_folders_are_the_legacy_run_log_folders(root: Path) -> None:
    info = make_legacy_project(root, sessions=3)
    folders = source(root).log_folders(RunFilter())
    assert {f.path for f in folders} == {
        root / "logs" / s.session_id for s in info.of_kind(SessionKind.RUN)
    }
    assert all(f.source == "legacy" and f.indexed for f in folders)
    one = folders[0].run_id
    assert [f.run_id for f in source(root).log_folders(RunFilter(), prefix=one.upper())] == [one]


def test_each_aiop_naming_variant_is_one_pack_of_its_run(root: Path) -> None:
    info = make_legacy_project(root, quirks=ALL_QUIRKS)
    legacy = source(root)
    packs = {p.run_id: p for p in legacy.packs(RunFilter())}
    assert set(packs) == {a.session_id for a in info.aiops}
    for aiop in info.aiops:
        pack = packs[aiop.session_id]
        wanted = f"{aiop.paths[0]}/aiop.json" if aiop.variant == "folder" else aiop.paths[0]
        assert pack.path == root / wanted
        assert pack.record is not None and pack.record.aiop_path == wanted
        document = json.loads(legacy.pack_json(pack))
        assert document["run"]["session_id"] == aiop.session_id


def test_an_aiop_without_its_session_is_a_pack_of_what_it_says(root: Path) -> None:
    (root / "logs").mkdir()
    write_aiop(root, f"aiop.{RUN}.json", json.dumps({"run": {"status": "completed"}}))
    legacy = source(root)
    [pack] = legacy.packs(RunFilter())
    assert (pack.run_id, pack.status, pack.started_at, pack.record) == (
        RUN,
        "success",
        "2025-10-07T12:00:00.000Z",
        None,
    )


def test_a_damaged_aiop_is_listed_with_a_warning_and_refused_by_show(root: Path) -> None:
    write_session(root, RUN, {"event": "run_start"})
    write_aiop(root, f"aiop.{RUN}.json", "{torn")
    legacy = source(root)
    [pack] = legacy.packs(RunFilter())
    assert f"logs/aiop/aiop.{RUN}.json: not valid JSON; ignored" in legacy.warnings
    with pytest.raises(OsirisError, match="is not readable JSON") as refused:
        legacy.pack_json(pack)
    assert refused.value.exit_code == 2


def test_a_run_card_without_its_json_has_nothing_to_show(root: Path) -> None:
    write_session(root, RUN, {"event": "run_start"})
    write_aiop(root, f"run-card.{RUN}.md", "# Run\n")
    legacy = source(root)
    pack = legacy.pack_of(legacy.get(RUN))
    assert pack is not None and pack.path.name == f"run-card.{RUN}.md"
    with pytest.raises(NotFound, match="has no AIOP JSON"):
        legacy.pack_json(pack)


def test_a_run_without_an_aiop_has_no_pack(root: Path) -> None:
    write_session(root, RUN, {"event": "run_start"})
    legacy = source(root)
    assert legacy.pack_of(legacy.get(RUN)) is None


# -- dual-mode mirrors ----------------------------------------------------------------------


def test_a_dual_mode_mirror_is_never_listed(root: Path) -> None:
    mirror = "run_1759838400001"
    write_session(root, RUN, {"event": "run_start", "fs_mode": "legacy"})
    write_session(root, mirror, {"event": "run_start", "fs_mode": "dual"})
    write_aiop(root, f"{mirror}/aiop.json", json.dumps({"run": {"session_id": mirror}}))
    legacy = source(root)
    assert [r.run_id for r in legacy.runs(RunFilter())] == [RUN]
    assert [f.run_id for f in legacy.log_folders(RunFilter())] == [RUN]
    assert legacy.packs(RunFilter()) == []
    with pytest.raises(NotFound):
        legacy.get(mirror)


def test_a_mirror_without_events_is_known_by_its_contract_record(root: Path) -> None:
    mirror, orphan = "run_1759838400001", "run_1759838400002"
    write_session(root, mirror, None)
    write_session(root, orphan, None)
    started = "2025-10-07T12:00:00.000Z"
    index(root, record("r-1", started, extra={"legacy_mirror": f"logs/{mirror}"}))
    legacy = source(root)
    assert [r.run_id for r in legacy.runs(RunFilter())] == [orphan]
    assert f"logs/{orphan}/events.jsonl: missing" in legacy.warnings


# -- the catalog and the deprecation line -----------------------------------------------------


def test_read_fallback_false_leaves_the_contract_source_alone(root: Path) -> None:
    config = config_of(root)
    on = catalog_for(dirs_of(root), config)
    off = catalog_for(replace(dirs_of(root), read_fallback=False), config)
    assert [s.name for s in on.sources] == ["contract", "legacy"]
    assert [s.name for s in off.sources] == ["contract"]


def test_contract_and_legacy_runs_merge_newest_first(root: Path) -> None:
    make_legacy_project(root, sessions=2)
    index(
        root,
        record("r-old", "2000-01-01T00:00:00.000Z"),
        record("r-new", "2030-01-01T00:00:00.000Z"),
    )
    catalog = catalog_for(dirs_of(root), config_of(root))
    found = catalog.runs(RunFilter())
    assert [r.source for r in found] == ["contract", "legacy", "legacy", "contract"]
    assert [r.run_id for r in catalog.runs(RunFilter(limit=2))] == [r.run_id for r in found[:2]]


def test_the_first_legacy_hit_prints_one_line_per_process(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_legacy_project(root, sessions=2)
    for legacy in (source(root), source(root)):
        legacy.runs(RunFilter())
        legacy.log_folders(RunFilter())
    assert capsys.readouterr().err == DEPRECATION + "\n"


def test_no_legacy_hit_prints_nothing(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_session(root, RUN, {"event": "run_start", "fs_mode": "dual"})
    legacy = source(root)
    assert legacy.runs(RunFilter()) == legacy.log_folders(RunFilter()) == []
    with pytest.raises(NotFound):
        legacy.get("run_")
    assert capsys.readouterr().err == ""


# -- `run --pipeline SLUG` ------------------------------------------------------------------


def test_the_newest_compile_of_a_pipeline_and_mapped_profile_wins(root: Path) -> None:
    info = make_legacy_project(
        root, sessions=1, quirks={"same_hash_compiles", "null_profile", "compiled_named"}
    )
    older, newer = info.same_hash  # mysql_to_csv, profile null
    assert older < newer
    dev = newest_build(root, "mysql_to_csv", profile="dev", profiles=_DEV)
    assert dev == root / f"logs/{newer}/compiled/manifest.yaml"
    # compiled/<name>/ trees (profile prod) are newer than every session
    prod = newest_build(root, "mysql_to_csv", profile="prod", profiles=_DEV)
    assert prod == root / "compiled/movies/manifest.yaml"
    # With profiles off every profile label is dropped: the newest build of all wins.
    assert newest_build(root, "mysql_to_csv", profile=None, profiles=_OFF) == prod
    assert newest_build(root, "mysql_to_csv", profile="staging", profiles=_DEV) is None


def test_a_failed_compile_is_no_build(root: Path) -> None:
    info = make_legacy_project(root, sessions=0, quirks={"failed_compile"})
    assert [s.status for s in info.of_kind(SessionKind.COMPILE)] == ["failed"]
    assert newest_build(root, "orders-etl", profile="dev", profiles=_DEV) is None
