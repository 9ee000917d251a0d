from __future__ import annotations

import itertools
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.compat.legacy_files import recording_reads
from osiris.compat.legacy_layout import (
    SessionKind,
    aiop_json_name,
    by_pipeline_name,
    run_card_name,
)
from osiris.compat.legacy_pointers import read_last_compile
from osiris.compat.legacy_reader import AiopVariant, ItemKind, LegacyInventory, scan_legacy
from osiris.compat.legacy_session import read_session, session_activity, session_to_record
from osiris.core.manifest_hash import manifest_hash
from osiris.core.profile_map import ProfileMap
from tests.helpers.legacy import ALL_QUIRKS, LegacyProjectInfo, make_legacy_project

_roots = itertools.count()


def _profiles(default: str | None) -> ProfileMap:
    """Profiles on with `default` as the default, or off (None)."""
    values = ("dev", "staging", "prod")
    return ProfileMap(enabled=default is not None, values=values, default=default)


@pytest.fixture
def root(fs: Any) -> Path:
    # Made inside the fixture: a Path built before pyfakefs patches pathlib is a real one.
    path = Path("/proj")
    path.mkdir()
    return path


@pytest.fixture
def full(root: Path) -> tuple[LegacyProjectInfo, LegacyInventory]:
    info = make_legacy_project(root, quirks=ALL_QUIRKS)
    return info, scan_legacy(root)


def walk(root: Path) -> list[PurePosixPath]:
    """Every path under `root`, symlinks listed but never entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            found.append(PurePosixPath(Path(dirpath, name).relative_to(root).as_posix()))
    return sorted(found)


def assert_complete(inventory: LegacyInventory, root: Path) -> None:
    uncovered = [rel for rel in walk(root) if not inventory.covers(rel)]
    assert uncovered == []
    rels = [item.rel for item in inventory.items]
    assert len(rels) == len(set(rels))
    nested = [(a, b) for a in rels for b in rels if a in b.parents]
    assert nested == []  # no path belongs to two items


def write_session(root: Path, session_id: str, events: list[dict[str, Any]]) -> Path:
    path = root / "logs" / session_id
    (path / "artifacts").mkdir(parents=True)
    lines = [
        {"ts": f"2025-10-07T12:00:0{i}.000000+00:00", "session": session_id, **e}
        for i, e in enumerate(events)
    ]
    (path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (path / "metrics.jsonl").write_text("")
    return path


# -- the whole tree -------------------------------------------------------------------------


def test_no_legacy_folders_give_an_empty_inventory(root: Path) -> None:
    (root / "osiris.yaml").write_text("version: 1\n")
    (root / "pipelines").mkdir()
    inventory = scan_legacy(root)
    assert inventory.is_empty
    assert inventory.items == ()
    assert scan_legacy(root / "missing").items == ()


def test_user_outputs_alone_leave_the_inventory_empty(root: Path) -> None:
    (root / "dist/logs").mkdir(parents=True)
    (root / "bundle.zip").write_bytes(b"")
    inventory = scan_legacy(root)
    assert inventory.is_empty
    assert {str(i.rel) for i in inventory.items_of(ItemKind.USER_OUTPUT)} == {"dist", "bundle.zip"}


def test_every_path_of_a_full_project_is_in_the_inventory(full: tuple) -> None:
    info, inventory = full
    assert_complete(inventory, info.root)
    assert not inventory.is_empty


def test_side_folders_and_user_outputs_are_listed(full: tuple) -> None:
    info, inventory = full
    kinds = {str(item.rel): item.kind for item in inventory.items}
    assert kinds[".osiris_sessions"] is ItemKind.CHAT_SESSIONS
    assert kinds[".osiris_cache"] is ItemKind.CACHE
    assert kinds[".osiris_prompts"] is ItemKind.PROMPTS
    assert kinds[".aiop-annex"] is ItemKind.AIOP_ANNEX
    for rel in info.user_outputs:
        assert kinds[rel] is ItemKind.USER_OUTPUT


def test_unknown_items_are_listed_not_guessed(full: tuple) -> None:
    info, inventory = full
    unknown = {str(item.rel) for item in inventory.items_of(ItemKind.UNKNOWN)}
    assert unknown == set(info.unknown_items)
    assert inventory.session("run_abc") is None
    link = next(i for i in inventory.items if str(i.rel) == "logs/external")
    assert link.is_symlink


def test_a_real_directory_works_like_pyfakefs(tmp_path: Path) -> None:
    info = make_legacy_project(tmp_path, quirks=ALL_QUIRKS, seed=7)
    inventory = scan_legacy(tmp_path)
    assert_complete(inventory, tmp_path)
    assert {s.session_id for s in inventory.sessions} == {s.session_id for s in info.sessions}


def test_the_helper_is_deterministic_for_a_seed(root: Path) -> None:
    def content(path: Path) -> bytes:
        if path.is_symlink():
            return os.readlink(path).encode()
        return b"" if path.is_dir() else path.read_bytes()

    def snapshot(where: Path) -> list[tuple[str, bytes]]:
        return [(str(rel), content(where / rel)) for rel in walk(where)]

    make_legacy_project(root / "a", quirks=ALL_QUIRKS, seed=3)
    make_legacy_project(root / "b", quirks=ALL_QUIRKS, seed=3)
    make_legacy_project(root / "c", quirks=ALL_QUIRKS, seed=4)
    assert snapshot(root / "a") == snapshot(root / "b")
    assert snapshot(root / "a") != snapshot(root / "c")


# -- sessions -------------------------------------------------------------------------------


def test_sessions_match_what_was_written(full: tuple) -> None:
    info, inventory = full
    assert {s.session_id for s in inventory.sessions} == {s.session_id for s in info.sessions}
    for expected in info.sessions:
        session = inventory.session(expected.session_id)
        assert session is not None
        assert session.kind is expected.kind
        assert session.status == expected.status, expected.session_id
        assert session.pipeline_id == expected.pipeline_id
        assert session.profile == expected.profile
        assert session.started_at == expected.started_at
        assert session.duration_ms == expected.duration_ms
        assert (session.rows_in, session.rows_out) == (expected.rows_in, expected.rows_out)
        assert session.manifest == expected.manifest


@pytest.mark.parametrize("kind", [k for k in SessionKind if k is not SessionKind.UNKNOWN])
def test_every_session_kind_is_found(full: tuple, kind: SessionKind) -> None:
    info, inventory = full
    found = {s.session_id for s in inventory.sessions_by_kind().get(kind, [])}
    assert found == {s.session_id for s in info.of_kind(kind)}
    assert found


def test_pipeline_comes_from_the_runners_run_start(root: Path) -> None:
    path = write_session(
        root,
        "run_1759838400000",
        [
            {"event": "run_start", "command": "run", "pipeline_id": "from-the-cli"},
            {"event": "run_start", "session_id": "run_1759838400000"},
            {"event": "run_start", "pipeline_id": "Orders ETL", "manifest_path": "m.yaml"},
            {"event": "run_complete"},
            {"event": "run_end", "duration_seconds": 2},
        ],
    )
    session = read_session(path)
    assert (session.pipeline_id, session.pipeline_slug) == ("Orders ETL", "orders-etl")
    assert session.duration_ms == 2000


def test_pipeline_falls_back_to_the_manifest(full: tuple) -> None:
    info, inventory = full
    compile_session = next(s for s in inventory.sessions if s.kind is SessionKind.COMPILE)
    events, _ = session_activity(compile_session)
    assert not any(e.get("pipeline_id") for e in events)
    assert compile_session.pipeline_id == info.session(compile_session.session_id).pipeline_id


@pytest.mark.parametrize(
    ("session_id", "events", "extra", "status"),
    [
        (
            "compile_1",
            [{"event": "run_start"}, {"event": "compile_complete"}, {"event": "run_end"}],
            {},
            "success",
        ),
        (
            "compile_1",
            [{"event": "run_start"}, {"event": "compile_error"}, {"event": "run_end"}],
            {},
            "failed",
        ),
        (
            "compile_1",
            [{"event": "run_start"}, {"event": "run_end"}],
            {".last.json": "{}"},
            "success",
        ),
        ("compile_1", [{"event": "run_start"}, {"event": "run_end"}], {"compiled/": ""}, "failed"),
        ("compile_1", [{"event": "run_start"}], {}, "interrupted"),
        (
            "run_1",
            [{"event": "run_start"}, {"event": "run_complete"}, {"event": "run_end"}],
            {},
            "success",
        ),
        (
            "run_1",
            [{"event": "run_complete"}, {"event": "run_error"}, {"event": "run_end"}],
            {},
            "failed",
        ),
        # Upstream writes each outcome twice and never both: an error anywhere fails the run.
        (
            "run_1",
            [{"event": "run_error"}, {"event": "run_complete"}, {"event": "run_end"}],
            {},
            "failed",
        ),
        # A run whose compile failed (upstream v0.3.5) writes compile_error and no outcome.
        (
            "run_1",
            [{"event": "run_start"}, {"event": "compile_error"}, {"event": "run_end"}],
            {},
            "failed",
        ),
        (
            "run_1",
            [{"event": "run_start"}, {"event": "run_end"}],
            {"status.json": '{"ok": false}'},
            "failed",
        ),
        (
            "run_1",
            [{"event": "run_start"}, {"event": "run_end"}],
            {"status.json": '{"ok": true}'},
            "success",
        ),
        (
            "run_1",
            [{"event": "run_start"}, {"event": "step_start", "step_id": "a"}],
            {},
            "interrupted",
        ),
        # Ctrl-C (upstream v0.3.5): run_end is written, with no outcome and no status.json.
        ("run_1", [{"event": "run_start"}, {"event": "run_end"}], {}, "interrupted"),
        ("run_1", [{"event": "run_end"}], {}, "unknown"),
        ("connections_1", [{"event": "run_start"}], {}, "interrupted"),
        ("connections_1", [{"event": "run_start"}, {"event": "run_end"}], {}, "unknown"),
    ],
)
def test_status_is_derived_as_legacy_layout_says(
    root: Path, session_id: str, events: list, extra: dict, status: str
) -> None:
    path = write_session(root, session_id, events)
    for name, text in extra.items():
        if name.endswith("/"):
            (path / name).mkdir()
        else:
            (path / name).write_text(text)
    assert read_session(path).status == status


def test_status_json_that_disagrees_with_the_events_is_reported(root: Path) -> None:
    path = write_session(
        root, "run_1", [{"event": "run_start"}, {"event": "run_complete"}, {"event": "run_end"}]
    )
    (path / "status.json").write_text('{"ok": false}')
    session = read_session(path)
    assert session.status == "success"
    assert any("status.json" in w and "disagrees" in w for w in session.warnings)


# -- damage ---------------------------------------------------------------------------------


def test_a_truncated_last_line_is_skipped_with_a_warning(root: Path) -> None:
    info = make_legacy_project(root, sessions=1, quirks={"truncated_jsonl"})
    inventory = scan_legacy(root)
    damaged = next(d for d in info.damaged if d.endswith("events.jsonl"))
    session = inventory.session(damaged.split("/")[1])
    assert session is not None
    assert [w for w in session.warnings if "truncated last line" in w] == [
        f"{damaged}: skipped a truncated last line 10"
    ]
    assert session_activity(session)[0][-1]["event"] == "run_complete"
    assert session.status == "success"  # run_complete decides; run_end was the torn line


def test_a_damaged_middle_line_is_skipped_and_the_rest_kept(root: Path) -> None:
    path = write_session(root, "run_1", [{"event": "run_start"}, {"event": "run_complete"}])
    text = (path / "events.jsonl").read_text().splitlines()
    (path / "events.jsonl").write_text("\n".join([text[0], "{not json", "[1, 2]", text[1]]) + "\n")
    session = read_session(path)
    assert [e["event"] for e in session_activity(session)[0]] == ["run_start", "run_complete"]
    assert "logs/run_1/events.jsonl: skipped a damaged line 2" in session.warnings
    assert "logs/run_1/events.jsonl: skipped a damaged line 3" in session.warnings


def test_missing_files_are_reported_and_the_rest_is_read(root: Path) -> None:
    info = make_legacy_project(root, sessions=1, quirks={"missing_files"})
    inventory = scan_legacy(root)
    for rel in info.damaged:
        assert f"{rel}: missing" in inventory.warnings
    sid = info.damaged[0].split("/")[1]
    session = inventory.session(sid)
    assert session is not None and session.status == "success"
    assert session.rows_out == info.session(sid).rows_out  # from cleanup_complete.total_rows


def test_every_damaged_file_of_a_full_project_is_warned_about(full: tuple) -> None:
    info, inventory = full
    for rel in info.damaged:
        assert any(w.startswith(f"{rel}: ") for w in inventory.warnings), rel


def test_an_empty_session_folder_is_read_without_raising(root: Path) -> None:
    (root / "logs/run_1759838400000").mkdir(parents=True)
    session = scan_legacy(root).session("run_1759838400000")
    assert session is not None
    assert session.status == "unknown"
    assert session.started_at is not None  # from the id
    assert {"events.jsonl", "metrics.jsonl", "artifacts", "manifest.yaml"} <= {
        w.split(": ")[0].rsplit("/", 1)[1] for w in session.warnings
    }


def test_garbage_files_are_warnings_not_errors(root: Path) -> None:
    path = write_session(root, "compile_1", [{"event": "compile_complete"}])
    (path / "compiled").mkdir()
    (path / "compiled/manifest.yaml").write_bytes(b"\xff\xfe: [")
    (path / "compiled/meta.json").write_text("[1]")
    (path / ".last.json").write_text("{")
    session = read_session(path)
    assert session.manifest is None and session.manifest_hash is None
    assert session.status == "success"
    joined = "\n".join(session.warnings)
    assert "compiled/manifest.yaml: not valid YAML" in joined
    assert "compiled/meta.json: not a JSON object" in joined
    assert ".last.json: not valid JSON" in joined


def test_a_manifest_with_unhashable_values_has_no_hash(root: Path) -> None:
    path = write_session(root, "compile_1", [{"event": "compile_complete"}])
    (path / "compiled").mkdir()
    (path / "compiled/manifest.yaml").write_text("pipeline: {id: x}\nblob: !!binary aGVsbG8=\n")
    session = read_session(path)
    assert session.manifest is not None and session.manifest_hash is None
    assert any("cannot be hashed" in w for w in session.warnings)


def test_timestamps_in_a_manifest_stay_strings(root: Path) -> None:
    path = write_session(root, "compile_1", [{"event": "compile_complete"}])
    (path / "compiled").mkdir()
    (path / "compiled/manifest.yaml").write_text("pipeline: {id: x}\nmeta: {built: 2025-10-07}\n")
    session = read_session(path)
    assert session.manifest == {"pipeline": {"id": "x"}, "meta": {"built": "2025-10-07"}}
    assert session.manifest_hash == manifest_hash(session.manifest, None)


def test_hostile_values_are_ignored_not_raised(root: Path) -> None:
    path = write_session(
        root,
        "run_1",
        [{"event": ["run_start"]}, {"event": "run_end", "duration_seconds": 1e400}],
    )
    huge = "9" * 400
    (path / "metrics.jsonl").write_text(
        '{"metric": "rows_read", "value": 1e400}\n'
        '{"metric": "rows_written", "value": NaN}\n'
        f'{{"metric": "rows_read", "value": {huge}}}\n' + "[" * 100_000 + "\n"
    )
    session = read_session(path)
    assert (session.rows_in, session.rows_out) == (None, None)
    assert session.duration_ms == 1000  # from the timestamps, as duration_seconds is infinite
    assert session.status == "unknown"
    assert "logs/run_1/metrics.jsonl: skipped a damaged line 4" in session.warnings


ROW_STEPS = (
    ("extract-orders", "extract", 10, 10),
    ("aggregate", "transform", 10, 4),
    ("write-summary", "write", 4, 4),
)


@pytest.mark.parametrize(
    ("with_modes", "rows"),
    [(True, (10, 4)), (False, (24, 18))],
    ids=["this-tool-counts-extract-in-write-out", "old-tool-sums-every-step"],
)
def test_rows_count_extract_and_write_steps_when_step_modes_are_known(
    root: Path, with_modes: bool, rows: tuple[int, int]
) -> None:
    # This tool's runner records rows_read and rows_written for every step and says each
    # step's mode in step_start; the old tool said no mode, so every step counts.
    starts = [
        {"event": "step_start", "step_id": step, **({"mode": mode} if with_modes else {})}
        for step, mode, _, _ in ROW_STEPS
    ]
    path = write_session(root, "run_1759838400000", [{"event": "run_start"}, *starts])
    metrics = [
        {"metric": name, "value": value, "step_id": step}
        for step, _, read, wrote in ROW_STEPS
        for name, value in (("rows_read", read), ("rows_written", wrote))
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    session = read_session(path)
    assert (session.rows_in, session.rows_out) == rows


# -- symlinks -------------------------------------------------------------------------------


def test_the_latest_cycle_is_listed_and_never_entered(root: Path) -> None:
    info = make_legacy_project(root, quirks={"latest_cycle", "aiop_folders"})
    inventory = scan_legacy(root)
    assert inventory.aiop_latest is not None and inventory.aiop_latest.target == "."
    latest = next(i for i in inventory.items if i.kind is ItemKind.AIOP_LATEST)
    assert (str(latest.rel), latest.is_symlink) == ("logs/aiop/latest", True)
    assert not any("latest/" in str(item.rel) for item in inventory.items)
    assert len(inventory.aiops) == len(info.aiops)


def test_symlinked_session_folders_and_files_are_not_followed(root: Path) -> None:
    elsewhere = write_session(root / "outside", "run_1", [{"event": "run_complete"}])
    (root / "logs").mkdir()
    os.symlink(elsewhere, root / "logs/run_1759838400000")
    real = write_session(root, "run_1759838400001", [{"event": "run_start"}])
    (real / "events.jsonl").unlink()
    os.symlink(elsewhere / "events.jsonl", real / "events.jsonl")
    inventory = scan_legacy(root)
    link = next(i for i in inventory.items if str(i.rel) == "logs/run_1759838400000")
    assert (link.kind, link.is_symlink) == (ItemKind.UNKNOWN, True)
    session = inventory.session("run_1759838400001")
    assert session is not None and session_activity(session) == ([], [])
    assert any("never followed" in w for w in session.warnings)


def test_a_symlinked_compiled_folder_is_not_read(root: Path) -> None:
    # The session is listed once: its compiled/ counts only as a real folder, so a link to
    # a tree elsewhere gives the session no manifest, and a warning says why.
    elsewhere = root / "outside/compiled"
    elsewhere.mkdir(parents=True)
    (elsewhere / "manifest.yaml").write_text("pipeline: {id: orders}\n")
    session = write_session(
        root, "compile_1759838400000", [{"event": "compile_start"}, {"event": "compile_complete"}]
    )
    os.symlink(elsewhere, session / "compiled")
    found = read_session(session, root)
    assert found.manifest is None and found.pipeline_id is None
    assert "logs/compile_1759838400000/compiled: a symlink (never followed); ignored" in (
        found.warnings
    )


def _run_with_a_compiled_tree(root: Path, manifest: str) -> Path:
    """A run session with its own manifest and, as upstream v0.3.5 leaves one when the run
    compiled its OML itself, a compiled/ tree whose meta.json names the profile `prod`."""
    session = write_session(
        root, "run_1759838400000", [{"event": "run_start"}, {"event": "run_complete"}]
    )
    (session / "manifest.yaml").write_text(manifest)
    (session / "status.json").write_text('{"ok": true}')
    (session / "osiris.log").write_text("")
    (session / "compiled").mkdir()
    (session / "compiled/manifest.yaml").write_text(manifest)
    (session / "compiled/meta.json").write_text('{"profile": "prod"}')
    (session / "compiled/effective_config.json").write_text("{not json")
    return session


def test_a_run_whose_manifest_names_its_profile_leaves_its_compiled_tree_unread(
    root: Path,
) -> None:
    # The run's own manifest stands before its compile's, and its profile before the
    # tree's meta.json: the tree has nothing to add, so it is not read (nor watched).
    session = _run_with_a_compiled_tree(root, "pipeline: {id: orders}\nmeta: {profile: dev}\n")
    with recording_reads() as reads:
        found = read_session(session, root)
    assert found.profile == "dev"
    assert found.manifest_path == session / "manifest.yaml"
    assert not [p for p in reads if "/compiled/" in p]
    assert not [w for w in found.warnings if "compiled" in w]


def test_a_run_whose_manifest_names_no_profile_takes_it_from_its_compiled_tree(
    root: Path,
) -> None:
    session = _run_with_a_compiled_tree(root, "pipeline: {id: orders}\n")
    found = read_session(session, root)
    assert found.profile == "prod"
    assert found.manifest_path == session / "manifest.yaml"  # its own, still
    assert "logs/run_1759838400000/compiled/effective_config.json: not valid JSON; ignored" in (
        found.warnings
    )


def test_a_symlinked_logs_folder_is_an_unknown_item(root: Path) -> None:
    (root / "elsewhere/run_1").mkdir(parents=True)
    os.symlink(root / "elsewhere", root / "logs")
    inventory = scan_legacy(root)
    assert [(str(i.rel), i.kind, i.is_symlink) for i in inventory.items] == [
        ("logs", ItemKind.UNKNOWN, True)
    ]


# -- manifests, hashes, profiles ------------------------------------------------------------


def test_hash_is_computed_from_the_manifest(full: tuple) -> None:
    info, inventory = full
    hashed = [s for s in info.sessions if s.manifest is not None]
    assert hashed
    for expected in hashed:
        session = inventory.session(expected.session_id)
        assert session is not None
        assert session.manifest_hash == manifest_hash(expected.compiled, expected.profile)
        legacy_fp = expected.manifest["pipeline"]["fingerprints"]["manifest_fp"]
        assert session.manifest_hash != legacy_fp.removeprefix("sha256:")


def test_two_compiles_of_the_same_content_share_a_hash(root: Path) -> None:
    info = make_legacy_project(root, sessions=0, quirks={"same_hash_compiles"})
    first, second = (scan_legacy(root).session(sid) for sid in info.same_hash)
    assert first is not None and second is not None
    assert first.started_at != second.started_at
    fingerprint = ("pipeline", "fingerprints", "manifest_fp")
    assert _dig(first.manifest, fingerprint) != _dig(second.manifest, fingerprint)
    assert first.manifest_hash == second.manifest_hash


def test_a_run_shares_the_hash_of_its_compile(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    inventory = scan_legacy(root)
    compile_session, run = (inventory.session(s.session_id) for s in info.sessions[:2])
    assert compile_session is not None and run is not None
    assert run.manifest is not None and "metadata" in run.manifest
    assert run.manifest_hash == compile_session.manifest_hash


@pytest.mark.parametrize(
    ("quirk", "legacy", "read_as", "mapped"),
    [
        ("null_profile", None, None, "dev"),
        ("default_profile", "default", None, "dev"),
        ("named_profile", "prod", "prod", "prod"),
    ],
)
def test_legacy_profiles_map_to_the_configured_default(
    root: Path, quirk: str, legacy: str | None, read_as: str | None, mapped: str
) -> None:
    info = make_legacy_project(root, sessions=1, quirks={quirk})
    run = scan_legacy(root).sessions_by_kind()[SessionKind.RUN][0]
    expected = info.session(run.session_id)
    assert run.manifest is not None and run.manifest["meta"]["profile"] == legacy
    assert run.profile == read_as
    record = session_to_record(run, profiles=_profiles("dev"), base_path=root)
    assert record.profile == mapped
    assert record.manifest_hash == manifest_hash(expected.compiled, mapped)
    assert record.manifest_hash == run.manifest_hash_for(_profiles("dev"))
    assert record.manifest_short == record.manifest_hash[:7]


# -- AIOP -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quirks", "variant"),
    [
        ({"aiop_first_run_names"}, AiopVariant.FIRST_RUN),
        ({"aiop_session_names"}, AiopVariant.SESSION_NAMED),
        ({"aiop_folders"}, AiopVariant.FOLDER),
        ({"aiop_gz"}, AiopVariant.FOLDER),
    ],
)
def test_each_aiop_naming_variant_is_matched_to_its_session(
    root: Path, quirks: set[str], variant: AiopVariant
) -> None:
    info = make_legacy_project(root, quirks=quirks)
    inventory = scan_legacy(root)
    assert info.aiops and len(inventory.aiops) == len(info.aiops)
    for expected in info.aiops:
        found = next(a for a in inventory.aiops if a.session_id == expected.session_id)
        assert (found.variant, found.matched_by, found.status) == (variant, "content", "completed")
        assert {_rel(p, root) for p in found.paths} == set(expected.paths)
        session = inventory.session(expected.session_id)
        assert session is not None and session.aiop == found
        if variant is AiopVariant.FOLDER:
            suffix = ".ndjson.gz" if expected.gz else ".ndjson"
            names = sorted(p.name for p in found.annex_shards)
            assert names == sorted(f"{s}{suffix}" for s in ("timeline", "metrics", "errors"))
    assert not inventory.warnings


def test_all_aiop_variants_side_by_side(full: tuple) -> None:
    info, inventory = full
    found = {(a.session_id, a.variant.value) for a in inventory.aiops}
    assert found == {(a.session_id, a.variant) for a in info.aiops}
    assert {v for _, v in found} == {"first_run", "session_named", "folder"}


def test_a_session_named_aiop_with_damaged_json_is_matched_by_its_file_name(root: Path) -> None:
    info = make_legacy_project(root, quirks={"aiop_session_names"})
    expected = info.aiops[0]
    (root / expected.paths[0]).write_text('{"run": {"session_')
    found = next(a for a in scan_legacy(root).aiops if a.session_id == expected.session_id)
    assert found.matched_by == "file_name"
    assert any("not valid JSON" in w for w in found.warnings)


def test_a_first_run_aiop_without_readable_content_stays_listed_unmatched(root: Path) -> None:
    make_legacy_project(root, quirks={"aiop_first_run_names"})
    (root / "logs/aiop/aiop.json").write_text("")
    inventory = scan_legacy(root)
    (found,) = inventory.aiops
    assert found.session_id is None and found.matched_by is None
    assert any("cannot be matched to a session" in w for w in inventory.warnings)
    assert all(s.aiop is None for s in inventory.sessions)


@pytest.mark.parametrize(
    "document",
    [
        {"run": {"id": "{sid}"}},
        {"run": {"run_id": "{sid}"}},
        {"session_id": "{sid}"},
        {"session": {"id": "{sid}"}},
        {"metadata": {"session_id": "{sid}"}},
    ],
)
def test_the_session_id_is_found_at_several_places(root: Path, document: dict) -> None:
    info = make_legacy_project(root, sessions=1, quirks={"aiop_first_run_names"})
    sid = info.aiops[0].session_id
    (root / "logs/aiop/aiop.json").write_text(json.dumps(document).replace("{sid}", sid))
    (found,) = scan_legacy(root).aiops
    assert (found.session_id, found.matched_by) == (sid, "content")


def test_content_and_file_name_disagreeing_is_reported(root: Path) -> None:
    info = make_legacy_project(root, quirks={"aiop_session_names"})
    expected = info.aiops[0]
    (root / expected.paths[0]).write_text(json.dumps({"run": {"session_id": "run_1"}}))
    found = next(a for a in scan_legacy(root).aiops if a.json_path == root / expected.paths[0])
    assert found.session_id == "run_1"
    assert any("in its file name" in w for w in found.warnings)


def test_a_run_card_without_its_json_is_kept(root: Path) -> None:
    (root / "logs/aiop").mkdir(parents=True)
    (root / "logs/aiop/run-card.run_1759838400000.md").write_text("# run\n")
    (found,) = scan_legacy(root).aiops
    assert found.session_id == "run_1759838400000" and found.json_path is None
    assert any("has no AIOP JSON" in w for w in found.warnings)


def test_the_aiop_index_and_its_sha256_file_names(root: Path) -> None:
    info = make_legacy_project(root, quirks={"aiop_session_names", "aiop_folders"})
    inventory = scan_legacy(root)
    runs = [i for i in inventory.aiop_indexes if i.pipeline_hash is None]
    by_pipeline = [i for i in inventory.aiop_indexes if i.pipeline_hash is not None]
    assert [i.path.name for i in runs] == ["runs.jsonl"]
    assert {e["session_id"] for e in runs[0].entries} == {a.session_id for a in info.aiops}
    assert by_pipeline
    for index in by_pipeline:
        assert index.path.name == f"sha256:{index.pipeline_hash}.jsonl"
        assert {e["manifest_hash"] for e in index.entries} == {index.pipeline_hash}
    assert sum(len(i.entries) for i in by_pipeline) == len(runs[0].entries)


def test_names_the_legacy_writer_uses_are_read_back(root: Path) -> None:
    sid = "run_1759838400000"
    aiop = root / "logs/aiop"
    (aiop / "index/by_pipeline").mkdir(parents=True)
    (aiop / aiop_json_name(sid)).write_text(json.dumps({"run": {"session_id": sid}}))
    (aiop / run_card_name(sid)).write_text("# run\n")
    (aiop / "index/by_pipeline" / by_pipeline_name("ab12")).write_text('{"session_id": "x"}\n')
    inventory = scan_legacy(root)
    (found,) = inventory.aiops
    assert (found.variant, found.session_id) == (AiopVariant.SESSION_NAMED, sid)
    assert found.run_card_path == aiop / f"run-card.{sid}.md"
    assert [i.pipeline_hash for i in inventory.aiop_indexes] == ["ab12"]
    assert not inventory.warnings


# -- pointers and compiled trees ------------------------------------------------------------


def test_last_compile_names_the_newest_successful_compile(full: tuple) -> None:
    info, inventory = full
    target = info.root / f"logs/{info.last_compile}/compiled/manifest.yaml"
    assert read_last_compile(info.root) == target
    assert inventory.last_compile is not None
    assert inventory.last_compile.session_id == info.last_compile
    assert inventory.last_compile.target == target
    session = inventory.session(info.last_compile)
    assert session is not None and session.last_pointer is not None
    assert session.last_pointer.target == target


def test_last_compile_without_its_manifest_is_none(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    (root / f"logs/{info.last_compile}/compiled/manifest.yaml").unlink()
    assert read_last_compile(root) is None
    pointer = scan_legacy(root).last_compile
    assert pointer is not None and pointer.target is None
    assert any("not a file in this project" in w for w in pointer.warnings)


def test_last_compile_written_elsewhere_resolves_inside_this_project(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    stored = f"/home/someone/old-place/logs/{info.last_compile}/compiled/manifest.yaml"
    (root / "logs/.last_compile.json").write_text(json.dumps({"manifest_path": stored}))
    assert read_last_compile(root) == root / f"logs/{info.last_compile}/compiled/manifest.yaml"


@pytest.mark.parametrize("stored", ["../other/logs/x/manifest.yaml", "logs/link/manifest.yaml"])
def test_last_compile_never_leaves_the_project_or_follows_links(root: Path, stored: str) -> None:
    (root / "elsewhere").mkdir()
    (root / "elsewhere/manifest.yaml").write_text("pipeline: {id: x}\n")
    (root / "logs").mkdir()
    os.symlink(root / "elsewhere", root / "logs/link")
    (root / "logs/.last_compile.json").write_text(json.dumps({"manifest_path": stored}))
    assert read_last_compile(root) is None


def test_no_last_compile_file_means_none(root: Path) -> None:
    assert read_last_compile(root) is None
    assert scan_legacy(root).last_compile is None


def test_top_level_and_named_compiled_trees(root: Path) -> None:
    info = make_legacy_project(root, sessions=1, quirks={"top_level_compiled", "compiled_named"})
    inventory = scan_legacy(root)
    assert len(inventory.compiled) == len(info.compiled_trees) == 3
    for expected in info.compiled_trees:
        tree = next(t for t in inventory.compiled if _rel(t.path, root) == expected.rel)
        assert tree.pipeline_id == expected.pipeline_id
        assert tree.profile == expected.profile
        assert tree.manifest_hash == manifest_hash(expected.manifest, expected.profile)
        assert tree.compiled_at is not None
        assert tree.name == (None if expected.rel == "compiled" else expected.rel.split("/")[1])
    top = next(t for t in inventory.compiled if t.name is None)
    assert sorted(p.name for p in top.paths) == [
        "cfg",
        "effective_config.json",
        "manifest.yaml",
        "meta.json",
    ]
    compile_session = inventory.session(info.last_compile or "")
    assert compile_session is not None
    assert top.manifest_hash == compile_session.manifest_hash
    assert top.manifest_hash_for(_profiles("dev")) == compile_session.manifest_hash_for(
        _profiles("dev")
    )


# -- index records --------------------------------------------------------------------------


def test_run_sessions_become_legacy_records(full: tuple) -> None:
    info, inventory = full
    aiops = {a.session_id: a for a in info.aiops}
    for session in inventory.sessions_by_kind()[SessionKind.RUN]:
        record = session_to_record(session, profiles=_profiles("dev"), base_path=info.root)
        sid = session.session_id
        assert (record.source, record.run_id, record.legacy_session_id) == ("legacy", sid, sid)
        assert record.fs_mode == "legacy"
        assert record.run_logs_path == f"logs/{sid}"
        assert record.build_manifest_path == f"logs/{sid}/manifest.yaml"
        assert record.pipeline_slug == session.pipeline_slug
        expected = info.session(sid)
        # A failed run's record carries its first error message.
        extra = record.extra
        assert (record.error is not None) == (expected.status == "failed")
        assert record.to_dict()["error"] == record.error
        if expected.status == "interrupted":
            assert (record.status, extra) == ("failed", {"legacy_status": "interrupted"})
        else:
            assert (record.status, extra) == (expected.status, {})
        if sid in aiops:
            paths = aiops[sid].paths
            wanted = f"{paths[0]}/aiop.json" if aiops[sid].variant == "folder" else paths[0]
            assert record.aiop_path == wanted
        else:
            assert record.aiop_path is None
        assert record.started_at is not None and record.started_at.endswith("Z")


def test_only_run_sessions_become_records(full: tuple) -> None:
    info, inventory = full
    compile_session = inventory.sessions_by_kind()[SessionKind.COMPILE][0]
    with pytest.raises(ValueError, match="not a run"):
        session_to_record(compile_session, profiles=_profiles("dev"), base_path=info.root)


def test_paths_outside_the_base_path_stay_absolute(root: Path) -> None:
    make_legacy_project(root, sessions=1)
    run = scan_legacy(root).sessions_by_kind()[SessionKind.RUN][0]
    record = session_to_record(run, profiles=_profiles(None), base_path=root / "sub")
    assert record.run_logs_path == (root / "logs" / run.session_id).as_posix()
    assert record.profile is None


# -- any mix of quirks ----------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    quirks=st.sets(st.sampled_from(sorted(ALL_QUIRKS))),
    sessions=st.integers(min_value=0, max_value=3),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_quirk_mix_scans_completely(
    fs: Any, quirks: set[str], sessions: int, seed: int
) -> None:
    where = Path(f"/mix/{next(_roots)}")
    info = make_legacy_project(where, sessions=sessions, quirks=quirks, seed=seed)
    inventory = scan_legacy(where)
    assert_complete(inventory, where)
    assert {(s.session_id, s.status) for s in inventory.sessions} == {
        (s.session_id, s.status) for s in info.sessions
    }
    assert {a.session_id for a in inventory.aiops} == {a.session_id for a in info.aiops}


def _dig(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        data = data[key]
    return data


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
