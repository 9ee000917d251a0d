from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from osiris.compat.legacy_layout import SessionKind
from osiris.compat.legacy_reader import ItemKind, scan_legacy
from osiris.compat.migrate import Plan, plan, planner
from osiris.compat.migrate.ops import AppendIndex, MoveTree, WriteFile, WritePointer
from osiris.core.fs_paths import RunNaming, format_run_ts
from osiris.core.manifest_hash import manifest_hash
from osiris.core.run_index import RunIndexWriter, RunRecord
from tests.helpers.legacy import ALL_QUIRKS, ExpectedSession, make_legacy_project
from tests.helpers.migration import contract
from tests.helpers.tree import assert_same_tree, snapshot


@pytest.fixture
def root(fs: Any) -> Path:
    path = Path("/proj")
    path.mkdir()
    return path


def homes(planned: Plan) -> dict[str, tuple[str, str | None, str]]:
    return {item.src: (item.kind, item.dst, item.note) for item in planned.items}


def expected_run_dir(root: Path, run: ExpectedSession, **filesystem: Any) -> str:
    project = contract(root, **filesystem)
    profile = run.profile or "dev"
    assert run.compiled is not None and run.pipeline_id is not None
    digest = manifest_hash(run.compiled, profile)
    naming = RunNaming(
        pipeline_slug=run.pipeline_id.lower().replace(" ", "-"),
        profile=profile,
        manifest_hash=digest,
        manifest_short=digest[:7],
        run_id=run.session_id,
        run_ts=format_run_ts(run.started_at, "iso_basic_z"),
    )
    return project.relative(project.run_dir(naming))


def test_every_legacy_item_gets_a_home_or_a_reason(root: Path) -> None:
    make_legacy_project(root, sessions=3, quirks=ALL_QUIRKS)
    planned = plan(contract(root))
    assert planned.conflicts == ()
    sources = {PurePosixPath(item.src) for item in planned.items}
    for item in scan_legacy(root).items:
        if item.kind is ItemKind.USER_OUTPUT:
            assert str(item.rel) in {i.src for i in planned.left_in_place}
        else:
            assert item.rel in sources, item
    archived = [(kind, dst) for kind, dst, _ in homes(planned).values() if kind == "archive"]
    assert all(dst and dst.startswith(".osiris/legacy/") for _, dst in archived)


def test_runs_go_to_their_contract_run_folders_with_an_index_record(root: Path) -> None:
    info = make_legacy_project(root, sessions=2, quirks={"null_profile", "named_profile"})
    planned = plan(contract(root))
    found = homes(planned)
    runs = info.of_kind(SessionKind.RUN)
    for run in runs:
        assert found[f"logs/{run.session_id}"] == ("run", expected_run_dir(root, run), "")
    (append,) = [op for op in planned.ops if isinstance(op, AppendIndex)]
    records = [json.loads(line) for line in append.files[0].data.splitlines()]
    assert {r["legacy_session_id"] for r in records} == {r.session_id for r in runs}
    for record in records:
        assert record["source"] == "migrated" and record["run_id"] == record["legacy_session_id"]
        assert record["run_logs_path"] == found[f"logs/{record['run_id']}"][1]
        assert record["build_manifest_path"].startswith(f"build/pipelines/{record['profile']}/")
        assert record["build_manifest_path"].endswith("/manifest.yaml")
    assert {r["profile"] for r in records} == {"dev", "prod"}  # null -> the default profile
    by_pipeline = {str(f.path) for f in append.files[1:]}
    assert by_pipeline == {f".osiris/index/by_pipeline/{r['pipeline_slug']}.jsonl" for r in records}


def test_a_moved_run_is_inventoried_by_its_own_entry_and_the_files_read(root: Path) -> None:
    # No folder a run moves with is listed: its inventory is the folder's own entry and, as
    # the scan read them, the files its index record came from (size, mtime, checksum).
    info = make_legacy_project(root, sessions=1)
    (run,) = info.of_kind(SessionKind.RUN)
    session = root / "logs" / run.session_id
    (session / "artifacts" / "deep.txt").write_text("never listed")
    planned = plan(contract(root))
    (op,) = [
        o for o in planned.ops if isinstance(o, MoveTree) and o.src == f"logs/{run.session_id}"
    ]
    top, *read = op.inventory
    assert (top.rel, top.kind, top.mtime_ns) == (".", "d", os.lstat(session).st_mtime_ns)
    assert [e.rel for e in read] == [
        "events.jsonl",
        "manifest.yaml",
        "metrics.jsonl",
        "status.json",
    ]
    assert op.watch == (1, 2, 3, 4)
    for entry, digest in zip(read, op.watch_sha256, strict=True):
        st = os.lstat(session / entry.rel)
        assert (entry.kind, entry.size, entry.mtime_ns) == ("f", st.st_size, st.st_mtime_ns)
        assert digest == hashlib.sha256((session / entry.rel).read_bytes()).hexdigest()


def test_compiles_become_builds_and_the_rest_of_the_session_is_archived(root: Path) -> None:
    info = make_legacy_project(root, sessions=2, quirks={"same_hash_compiles", "failed_compile"})
    found = homes(plan(contract(root)))
    compiles = info.of_kind(SessionKind.COMPILE)
    by_hash: dict[str, list[str]] = {}
    for session in compiles:
        if session.compiled is not None:
            digest = manifest_hash(session.compiled, "dev")
            by_hash.setdefault(digest, []).append(session.session_id)
    assert any(set(info.same_hash) <= set(group) for group in by_hash.values())
    for first, *same in by_hash.values():
        kind, build, _ = found[f"logs/{first}/compiled"]
        assert kind == "build" and build is not None and build.startswith("build/pipelines/dev/")
        assert found[f"logs/{first}"][2] == "the rest of a compile session"
        for session_id in same:
            note = f"compile session kept whole: same build as {build}"
            assert found[f"logs/{session_id}"][2] == note
    failed = next(c.session_id for c in compiles if c.status == "failed")
    assert found[f"logs/{failed}"] == (
        "archive",
        f".osiris/legacy/logs/{failed}",
        "failed compile session",
    )


def test_the_last_compile_becomes_contract_pointers(root: Path) -> None:
    info = make_legacy_project(root, sessions=2)
    planned = plan(contract(root))
    assert info.last_compile is not None
    last = info.session(info.last_compile)
    assert last.compiled is not None and last.pipeline_id is not None
    digest = manifest_hash(last.compiled, "dev")
    pointers = [op for op in planned.ops if isinstance(op, WritePointer)]
    slug = last.pipeline_id.lower().replace(" ", "-")
    assert [str(op.path) for op in pointers] == [
        f".osiris/index/latest/{slug}.txt",
        ".osiris/index/last_compile.txt",
    ]
    (text,) = {op.data for op in pointers}
    manifest, pointed, profile = text.splitlines()
    assert (pointed, profile) == (digest, "dev")
    build = str(PurePosixPath(manifest).parent)
    assert ("build", build) in {(i.kind, i.dst) for i in planned.items}
    assert build.endswith(f"/{digest[:7]}-{digest}")
    assert homes(planned)["logs/.last_compile.json"][2] == "now a contract pointer"


def test_aiop_files_go_beside_a_generated_summary(root: Path) -> None:
    quirks = {"aiop_first_run_names", "aiop_session_names", "aiop_folders", "aiop_gz"}
    info = make_legacy_project(root, sessions=3, quirks=quirks)
    planned = plan(contract(root))
    found = homes(planned)
    summaries = {
        json.loads(op.data)["legacy_session_id"]: op
        for op in planned.ops
        if isinstance(op, WriteFile)
    }
    assert set(summaries) == {a.session_id for a in info.aiops}
    for expected in info.aiops:
        summary = summaries[expected.session_id]
        folder = str(summary.path.parent)
        assert folder.startswith("aiop/dev/") and folder.endswith(f"/{expected.session_id}")
        data = json.loads(summary.data)
        assert (data["run_id"], data["source"], data["legacy_aiop"]) == (
            expected.session_id,
            "migrated",
            "aiop.json",
        )
        # Derived from the session's events and metrics, which the scan does not keep.
        events = (root / "logs" / expected.session_id / "events.jsonl").read_text()
        assert data["counts"]["events"] == len(events.splitlines()) > 0
        if expected.variant == "folder":
            move = next(
                op for op in planned.ops if str(getattr(op, "src", "")) == expected.paths[0]
            )
            assert isinstance(move, MoveTree) and move.ignore == ("summary.json",)
        else:
            json_file, card = expected.paths
            assert found[json_file][1] == f"{folder}/aiop.json"
            assert found[card][1] == f"{folder}/run-card.md"


def test_events_changed_while_planning_are_a_conflict(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = make_legacy_project(root, sessions=1, quirks={"aiop_folders"})
    (expected,) = info.aiops
    events = root / "logs" / expected.session_id / "events.jsonl"
    scan = planner.scan_legacy

    def scan_then_append(path: Path) -> Any:
        found = scan(path)
        with open(events, "a") as handle:
            handle.write('{"event":"late"}\n')
        return found

    monkeypatch.setattr(planner, "scan_legacy", scan_then_append)
    planned = plan(contract(root))
    changed = f"logs/{expected.session_id}/events.jsonl: changed while it was planned; plan again"
    assert changed in [str(p) for p in planned.conflicts]
    assert not [op for op in planned.ops if isinstance(op, WriteFile)]


def test_a_profile_outside_the_configured_ones_is_a_conflict_naming_the_fix(root: Path) -> None:
    info = make_legacy_project(root, sessions=1, quirks={"named_profile"})
    project = contract(root, profiles={"values": ["dev"], "default": "dev"})
    planned = plan(project)
    run = info.of_kind(SessionKind.RUN)[0]
    reason = (
        "profile 'prod' is not one of dev: map it with compat.legacy_profiles.prod: <profile> "
        "in osiris.yaml"
    )
    assert f"logs/{run.session_id}: this run cannot be placed: {reason}" in map(
        str, planned.conflicts
    )
    assert f"logs/{run.session_id}" not in homes(planned)


def test_planning_writes_nothing(root: Path) -> None:
    make_legacy_project(root, sessions=2, quirks=ALL_QUIRKS)
    before = snapshot(root)
    plan(contract(root))
    assert_same_tree(before, snapshot(root), modes=True, mtimes=True)


def test_the_fingerprint_is_stable(root: Path) -> None:
    make_legacy_project(root, sessions=1)
    first = plan(contract(root))
    assert plan(contract(root)).fingerprint == first.fingerprint


def test_a_plan_round_trips_through_json(root: Path) -> None:
    make_legacy_project(root, sessions=2, quirks=ALL_QUIRKS)
    planned = plan(contract(root))
    assert Plan.from_json(json.loads(json.dumps(planned.to_json()))) == planned
    planned.save(root / "plan.json")
    assert Plan.load(root / "plan.json") == planned
    (root / "other.json").write_text('{"format": 99}')
    with pytest.raises(Exception, match="not a migration plan of format 3"):
        Plan.load(root / "other.json")


# -- conflicts ------------------------------------------------------------------------------


def test_an_existing_destination_is_a_conflict(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    run = info.of_kind(SessionKind.RUN)[0]
    taken = expected_run_dir(root, run)
    (root / taken).mkdir(parents=True)
    conflicts = [str(p) for p in plan(contract(root)).conflicts]
    assert conflicts == [f"{taken}: already exists; the migrator never overwrites"]


def test_two_items_to_one_place_is_a_conflict(root: Path) -> None:
    info = make_legacy_project(root, sessions=2)
    project = contract(root, naming={"run_dir": "{pipeline_slug}"})
    slugs = {r.pipeline_id for r in info.of_kind(SessionKind.RUN)}
    conflicts = [str(p) for p in plan(project).conflicts]
    assert any("is the destination of both logs/run_" in c for c in conflicts) == (len(slugs) == 1)


def test_a_symlinked_legacy_root_is_a_conflict(root: Path) -> None:
    os.symlink("/elsewhere/logs", root / "logs")
    (conflict,) = plan(contract(root)).conflicts
    assert str(conflict) == (
        "logs: is a symlink to /elsewhere/logs (outside the project); the migrator never "
        "follows links: replace it with the folder it points to, or remove it"
    )


def test_destinations_outside_the_project_or_through_links_are_conflicts(root: Path) -> None:
    make_legacy_project(root, sessions=1)
    outside = plan(contract(root, run_logs_dir="/outside/run_logs")).conflicts
    assert outside and all("is outside the project" in p.message for p in outside)
    os.symlink("/outside", root / "run_logs")
    linked = plan(contract(root)).conflicts
    assert linked and {p.message for p in linked} == {
        "run_logs is a symlink (never written through)"
    }


def test_chat_sessions_merge_into_an_existing_contract_folder(root: Path) -> None:
    make_legacy_project(root, sessions=1)
    (root / ".osiris/sessions/other").mkdir(parents=True)
    found = homes(plan(contract(root)))
    assert found[".osiris_sessions/a1b2c3d4"][:2] == ("chat_sessions", ".osiris/sessions/a1b2c3d4")
    (root / ".osiris/sessions/a1b2c3d4").mkdir()
    conflicts = [str(p) for p in plan(contract(root)).conflicts]
    assert conflicts == [".osiris/sessions/a1b2c3d4: already exists; the migrator never overwrites"]


def test_contract_builds_pointers_and_mirrors_win_over_their_legacy_copies(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    project = contract(root)
    build = homes(plan(project))[f"logs/{info.last_compile}/compiled"][1]
    (root / str(build)).mkdir(parents=True)
    (root / ".osiris/index/latest").mkdir(parents=True)
    (root / ".osiris/index/last_compile.txt").write_text("a newer compile\n")
    run = info.of_kind(SessionKind.RUN)[0].session_id
    RunIndexWriter(project.index_dir).append(
        RunRecord(run_id="r-1", pipeline_slug="orders-etl", extra={"legacy_mirror": f"logs/{run}"})
    )
    planned = plan(project)
    found = homes(planned)
    assert planned.conflicts == ()
    assert found[f"logs/{info.last_compile}"][2] == (
        "compile session kept whole: the contract build already exists"
    )
    assert found[f"logs/{run}"][2] == "mirror of contract run r-1"
    assert found["logs/.last_compile.json"][2] == (
        "kept the newer contract pointer .osiris/index/last_compile.txt"
    )


def test_a_contract_project_has_nothing_to_migrate(root: Path) -> None:
    (root / "run_logs/dev").mkdir(parents=True)
    (root / "exports").mkdir()
    planned = plan(contract(root))
    assert planned.is_empty and planned.ops == ()
    assert [(i.src, i.note) for i in planned.left_in_place] == [("exports", "your own output")]


def test_a_legacy_side_folder_that_is_a_file_is_archived(root: Path) -> None:
    (root / ".osiris_cache").write_text("not a folder")
    found = homes(plan(contract(root)))
    assert found[".osiris_cache"] == ("archive", ".osiris/legacy/.osiris_cache", "not a folder")
