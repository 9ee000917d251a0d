from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from osiris.compat import migration_journal as journal
from osiris.compat.legacy_layout import SessionKind
from osiris.compat.migrate import (
    apply,
    engine,
    execution,
    finalize,
    finalizing,
    plan,
    refuse_if_unfinished,
    rollback,
    status,
    verify,
)
from osiris.compat.migrate.ops import AppendIndex, MoveTree
from osiris.compat.migrate.planner import Plan
from osiris.compat.migration_journal import Journal, list_migrations
from osiris.core.fs_paths import FilesystemContract
from osiris.core.lock import project_lock
from osiris.core.run_index import RunIndexReader, RunIndexWriter, RunRecord
from osiris.errors import (
    LockBusy,
    MigrationIncomplete,
    NotFound,
    PlanConflict,
    RollbackRefused,
    StalePlan,
    UnfinishedMigration,
    UsageError,
)
from tests.helpers.legacy import LegacyProjectInfo, make_legacy_project
from tests.helpers.migration import contract, project_state
from tests.helpers.tree import assert_same_tree, diff_trees, snapshot

QUIRKS = {"aiop_folders", "aiop_session_names", "unknown_items", "failed_run"}
CRASHED = "20251007T120000Z-crashed0"


@pytest.fixture
def root(fs: Any) -> Path:
    path = Path("/proj")
    path.mkdir()
    return path


@pytest.fixture
def info(root: Path) -> LegacyProjectInfo:
    return make_legacy_project(root, sessions=2, quirks=QUIRKS)


@pytest.fixture
def project(root: Path, info: LegacyProjectInfo) -> FilesystemContract:
    return contract(root)


def journal_kinds(project: FilesystemContract, migration_id: str) -> list[str]:
    path = project.migrations_dir / migration_id / "journal.jsonl"
    return [json.loads(line)["t"] for line in path.read_text().splitlines()]


def content(root: Path) -> dict[str, tuple[str, int, str | None, str | None]]:
    """Paths with kind, size, digest and link target: what must match across two roots."""
    return {
        rel: (i.kind, i.size, i.digest, i.link_target)
        for rel, i in project_state(root).items()
        if not rel.startswith(".osiris/migrations")
    }


def crash(
    project: FilesystemContract, planned: Plan, *, applied: int, begun: int, done: int
) -> None:
    """The state a kill leaves: `begun` begin lines, `done` done lines, `applied` steps run."""
    assert done <= applied <= begun <= len(planned.ops)
    folder = project.migrations_dir / CRASHED
    folder.mkdir(parents=True)
    planned.save(folder / "plan.json")
    header = {"migration_id": CRASHED, "fingerprint": planned.fingerprint, "ops": len(planned.ops)}
    log = Journal.create(folder, {**header, "created_at": "2025-10-07T12:00:00.000Z"})
    log.begin(range(begun))
    log.done((i, None) for i in range(done))
    for op in planned.ops[:applied]:
        op.apply(project.base_path)


# -- apply ----------------------------------------------------------------------------------


def test_apply_migrates_journals_and_indexes_every_run(
    project: FilesystemContract, info: LegacyProjectInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(execution, "BATCH", 10)
    writes = []
    monkeypatch.setattr(
        journal,
        "append_jsonl",
        lambda path, lines: writes.append(len(lines)) or _append(path, lines),
    )
    planned = plan(project)
    seen = []
    result = apply(project, planned, progress=lambda done, total: seen.append((done, total)))
    n = len(planned.ops)
    assert (result.ops, result.applied, result.resumed) == (n, n, False)
    assert seen[-1] == (n, n) and [d for d, _ in seen] == list(range(1, n + 1))
    batches = -(-n // 10)
    # One write (and one fsync) for the header, two per batch, one for "applied".
    assert len(writes) == 1 + 2 * batches + 1
    assert journal_kinds(project, result.migration_id)[:2] == ["header", "begin"]
    assert journal_kinds(project, result.migration_id)[-1] == "applied"
    saved = Plan.load(project.migrations_dir / str(result.migration_id) / "plan.json")
    assert saved == planned
    records = RunIndexReader(project.index_dir, project.base_path).query()
    runs = {r.session_id for r in info.of_kind(SessionKind.RUN)}
    assert {r.legacy_session_id for r in records} == runs
    assert {r.source for r in records} == {"migrated"}
    assert all((project.base_path / str(r.run_logs_path)).is_dir() for r in records)
    assert verify(project).ok


def _append(path: Path, lines: list[dict[str, Any]]) -> None:
    from osiris.core.fsio import append_jsonl

    append_jsonl(path, lines)


def test_nothing_to_migrate_writes_nothing(root: Path) -> None:
    (root / "run_logs").mkdir()
    before = snapshot(root)
    result = apply(contract(root))
    assert result.nothing_to_do and engine.NOTHING_TO_MIGRATE.startswith("Nothing to migrate")
    assert_same_tree(before, snapshot(root), modes=True, mtimes=True)


def test_applying_twice_is_applying_once(project: FilesystemContract) -> None:
    apply(project)
    after = snapshot(project.base_path)
    assert apply(project).nothing_to_do
    assert_same_tree(after, snapshot(project.base_path), modes=True, mtimes=True)


def test_a_stale_plan_is_refused_naming_what_changed(
    project: FilesystemContract, info: LegacyProjectInfo
) -> None:
    planned = plan(project)
    run = info.of_kind(SessionKind.RUN)[0].session_id
    with open(project.base_path / f"logs/{run}/events.jsonl", "a") as handle:
        handle.write('{"event":"late"}\n')
    with pytest.raises(StalePlan) as refused:
        apply(project, planned)
    message = refused.value.one_line()
    assert message == (
        f"the project changed since the plan was made: logs/{run}: changed since the plan "
        "(hint: run `osiris migrate plan` again)"
    )
    assert not project.migrations_dir.exists()


def test_conflicts_are_refused_before_anything_is_written(project: FilesystemContract) -> None:
    (project.base_path / ".osiris_cache").rename(project.base_path / "cache-was-here")
    (project.base_path / ".osiris_cache").mkdir()
    (project.cache_dir).mkdir(parents=True)
    (project.cache_dir / "x.json").write_text("{}")
    (project.base_path / ".osiris_cache/x.json").write_text("{}")
    before = snapshot(project.base_path)
    with pytest.raises(PlanConflict) as refused:
        apply(project)
    assert refused.value.one_line() == (
        "1 conflict(s): .osiris/cache/x.json: already exists; the migrator never overwrites "
        "(hint: resolve them and run `osiris migrate plan` again; nothing was changed)"
    )
    assert_same_tree(before, snapshot(project.base_path), modes=True, mtimes=True)


def test_a_busy_lock_is_refused(tmp_path: Path) -> None:
    make_legacy_project(tmp_path, sessions=1)
    project = contract(tmp_path)
    with project_lock(project.osiris_dir, wait=False), pytest.raises(LockBusy) as refused:
        apply(project)
    assert refused.value.one_line() == (
        f"{project.osiris_dir / 'lock'}: another osiris process holds this lock "
        "(hint: wait for it to finish, then try again)"
    )
    assert not project.migrations_dir.exists()


def test_a_failed_step_leaves_a_journal_that_apply_resumes(
    project: FilesystemContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = plan(project)
    real = MoveTree.apply
    calls = []

    def failing(self: MoveTree, root: Path) -> Any:
        calls.append(self)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, root)

    monkeypatch.setattr(MoveTree, "apply", failing)
    with pytest.raises(MigrationIncomplete) as failed:
        apply(project, planned)
    index = planned.ops.index(calls[1])
    (migration,) = list_migrations(project.migrations_dir)
    assert failed.value.one_line() == (
        f".osiris/migrations/{migration.migration_id}: step {index + 1} of {len(planned.ops)} "
        f"({calls[1].describe()}) failed: [Errno 28] No space left on device "
        f"(hint: {engine.BOTH_WAYS})"
    )
    assert migration.journal is not None and set(migration.journal.done) == set(range(index))
    monkeypatch.undo()
    result = apply(project)
    assert result.resumed and result.applied == len(planned.ops) - index
    assert verify(project).ok


# -- crash states ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point",
    [
        pytest.param((0.0, 0.1, 0.0), id="begun-nothing-applied"),
        pytest.param((0.4, 0.6, 0.2), id="mid-batch"),
        pytest.param((0.8, 0.8, 0.8), id="between-batches"),
        pytest.param((1.0, 1.0, 0.9), id="all-applied-not-all-done"),
    ],
)
def test_a_crash_state_resumes_to_a_clean_apply_and_rolls_back_exactly(
    fs: Any, point: tuple[float, float, float]
) -> None:
    reference = Path("/reference")
    make_legacy_project(reference, sessions=1, quirks=QUIRKS)
    apply(contract(reference))
    for ending in ("resume", "rollback"):
        where = Path(f"/{ending}")
        make_legacy_project(where, sessions=1, quirks=QUIRKS)
        project = contract(where)
        before = project_state(where)
        planned = plan(project)
        applied, begun, done = (round(f * len(planned.ops)) for f in point)
        crash(project, planned, applied=applied, begun=begun, done=done)
        if ending == "resume":
            assert apply(project).resumed
            assert content(where) == content(reference)
        else:
            rollback(project)
            assert_same_tree(before, project_state(where), modes=True, mtimes=True)


def test_a_torn_journal_line_and_a_torn_index_append_are_recovered(
    project: FilesystemContract,
) -> None:
    before = project_state(project.base_path)
    planned = plan(project)
    index = next(i for i, op in enumerate(planned.ops) if isinstance(op, AppendIndex))
    crash(project, planned, applied=index, begun=index + 1, done=index - 1)
    step = planned.ops[index]
    assert isinstance(step, AppendIndex)
    runs = project.base_path / str(step.files[0].path)
    runs.write_text(step.files[0].data[:100])  # killed in the middle of the append
    with open(project.migrations_dir / CRASHED / "journal.jsonl", "a") as handle:
        handle.write('{"t":"done","op":')
    rollback(project)
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)


def test_an_unfinished_migration_names_both_ways_out(project: FilesystemContract) -> None:
    planned = plan(project)
    crash(project, planned, applied=2, begun=3, done=2)
    message = (
        f".osiris/migrations/{CRASHED}: migration {CRASHED} was interrupted with 2 of "
        f"{len(planned.ops)} steps done, 1 under way (hint: run `osiris migrate apply` to "
        "resume it, or "
        "`osiris migrate rollback` to undo it)"
    )
    with pytest.raises(UnfinishedMigration) as refused:
        refuse_if_unfinished(project)
    assert refused.value.one_line() == message
    other = Plan.from_json({**planned.to_json(), "fingerprint": "0" * 64})
    with pytest.raises(UnfinishedMigration) as refused:
        apply(project, other)
    assert refused.value.one_line() == message


def test_the_kill_hook_stops_right_after_a_step(
    project: FilesystemContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed = []

    def kill(pid: int, sig: int) -> None:
        killed.append((pid, sig))
        raise KeyboardInterrupt

    monkeypatch.setenv(engine.KILL_ENV, "3")
    monkeypatch.setattr(os, "kill", kill)
    with pytest.raises(KeyboardInterrupt):
        apply(project)
    assert killed == [(os.getpid(), signal.SIGKILL)]
    (migration,) = list_migrations(project.migrations_dir)
    assert migration.journal is not None
    assert set(migration.journal.done) == {0, 1}  # the third step ran; its done line did not
    monkeypatch.delenv(engine.KILL_ENV)
    assert apply(project).resumed and verify(project).ok


# -- rollback -------------------------------------------------------------------------------


def test_rollback_restores_the_exact_tree(project: FilesystemContract) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    undone = rollback(project)
    assert (undone.migration_id, undone.undone) == (result.migration_id, result.ops)
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)
    assert rollback(project).already
    assert journal_kinds(project, str(result.migration_id))[-1] == "rolled-back"


@pytest.fixture
def disk_project(tmp_path: Path) -> FilesystemContract:
    """The project on a real disk: telling later files relies on folder mtimes (see
    `_Move._shape_unchanged`), which pyfakefs does not update."""
    root = tmp_path / "proj"
    make_legacy_project(root, sessions=2, quirks=QUIRKS)
    return contract(root)


@pytest.mark.allow_legacy_writes
def test_rollback_refuses_to_lose_later_files_unless_forced(
    disk_project: FilesystemContract,
) -> None:
    project = disk_project
    before = project_state(project.base_path)
    result = apply(project)
    record = RunIndexReader(project.index_dir, project.base_path).query()[0]
    late = f"{record.run_logs_path}/late.txt"
    (project.base_path / late).write_text("written by a later run")
    migrated = snapshot(project.base_path)
    with pytest.raises(RollbackRefused) as refused:
        rollback(project)
    leftovers = f".osiris/legacy/rollback-leftovers/{result.migration_id}"
    assert refused.value.one_line() == (
        f"rolling back {result.migration_id} would lose changes made after it: "
        f"{record.run_logs_path}: entries added or removed since the migration (hint: move "
        "them away and try again, or use --force: changed folders go back with their changes, "
        f"other later files are moved to {leftovers}/, later index records and newer pointers "
        "are kept)"
    )
    assert not diff_trees(migrated, snapshot(project.base_path), modes=True, mtimes=True).paths - {
        ".osiris/lock"
    }
    forced = rollback(project, force=True)
    session = f"logs/{record.legacy_session_id}"
    assert (forced.kept, forced.set_aside) == ([session], [])
    assert (project.base_path / session / "late.txt").read_text() == "written by a later run"
    after = {k: v for k, v in project_state(project.base_path).items() if ".osiris/legacy" not in k}
    assert after.pop(f"{session}/late.txt").size == len("written by a later run")
    assert not diff_trees(before, after, modes=True, mtimes=True).paths - {session}


def test_records_indexed_after_the_migration_are_kept_by_force(project: FilesystemContract) -> None:
    apply(project)
    RunIndexWriter(project.index_dir).append(RunRecord(run_id="run-000001", pipeline_slug="late"))
    with pytest.raises(RollbackRefused, match="holds records appended since the migration"):
        rollback(project)
    result = rollback(project, force=True)
    assert ".osiris/index/runs.jsonl" in result.kept
    records = RunIndexReader(project.index_dir, project.base_path).query()
    assert [r.run_id for r in records] == ["run-000001"]


def test_a_killed_rollback_resumes(project: FilesystemContract) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    planned = Plan.load(project.migrations_dir / str(result.migration_id) / "plan.json")
    log = Journal(project.migrations_dir / str(result.migration_id))
    todo = list(reversed(range(len(planned.ops))))
    log.mark("rollback", at="2025-10-07T12:00:00.000Z", force=False, ops=todo)
    log.begin(todo[:4], undo=True)
    for i in todo[:3]:
        planned.ops[i].reverse().apply(project.base_path)
    log.done(((i, None) for i in todo[:2]), undo=True)
    with pytest.raises(UnfinishedMigration, match="run `osiris migrate rollback` to finish it"):
        apply(project)
    resumed = rollback(project)
    assert resumed.resumed and resumed.undone == len(todo) - 2
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)


def test_an_older_migration_waits_for_the_newer_one(project: FilesystemContract) -> None:
    first = apply(project)
    (project.base_path / "logs/run_1799999999999/artifacts").mkdir(parents=True)
    second = apply(project)
    assert second.migration_id != first.migration_id
    with pytest.raises(UsageError) as refused:
        rollback(project, first.migration_id)
    assert refused.value.one_line() == (
        f"migration {second.migration_id} came after {first.migration_id} "
        f"(hint: roll back {second.migration_id} first)"
    )


# -- finalize, status, verify ---------------------------------------------------------------


def test_finalize_ends_reversibility_and_removes_empty_legacy_folders(
    project: FilesystemContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = apply(project)
    folder = project.migrations_dir / str(result.migration_id)
    trashed: list[str] = []
    monkeypatch.setattr(finalizing, "send2trash", trashed.append)
    done = finalize(project, trash=True)
    assert sorted(os.listdir(folder)) == ["finalized.json"]
    record = json.loads((folder / "finalized.json").read_text())
    assert record["migration_id"] == result.migration_id and record["ops"] == result.ops
    assert "logs" in done.removed and "compiled" not in os.listdir(project.base_path)
    assert not (project.base_path / "logs").exists()
    assert trashed == [str(project.osiris_dir / "legacy")] and done.trashed == [".osiris/legacy"]
    assert finalize(project).already
    with pytest.raises(UsageError, match="was finalized and can no longer be rolled back"):
        rollback(project)


def test_finalize_never_removes_what_is_not_empty(project: FilesystemContract) -> None:
    apply(project)
    (project.base_path / "logs/keep.txt").write_text("mine")
    done = finalize(project)
    assert "logs" not in done.removed and (project.base_path / "logs/keep.txt").exists()
    assert (project.osiris_dir / "legacy").is_dir() and done.trashed == []


def test_status_tracks_legacy_items_migrations_and_mirrors(project: FilesystemContract) -> None:
    before = status(project)
    assert before.work_left and before.legacy["run"]["items"] == 3
    assert before.fs_mode == "contract" and before.migrations == ()
    apply(project)
    after = status(project)
    assert not after.work_left and after.legacy == {}
    assert [m.state for m in after.migrations] == ["applied"]
    root = project.base_path
    (root / "run_logs/dev/x/r9").mkdir(parents=True)
    (root / "run_logs/dev/x/r9/events.jsonl").write_text("contract\n")
    (root / "logs/run_9").mkdir()
    (root / "logs/run_9/events.jsonl").write_text("diverged\n")
    RunIndexWriter(project.index_dir).append(
        RunRecord(
            run_id="r9",
            pipeline_slug="x",
            run_logs_path="run_logs/dev/x/r9",
            extra={"legacy_mirror": "logs/run_9"},
        )
    )
    (project.osiris_dir / "compat").mkdir()
    (project.osiris_dir / "compat/dual_write_errors.jsonl").write_text(
        '{"path": "logs/run_8", "error": "disk full"}\n{"path": "logs/run_9", "error": "EPERM"}\n'
    )
    mirrored = status(project)
    assert mirrored.mirror_problems == ("logs/run_9/events.jsonl: differs from run_logs/dev/x/r9",)
    # The mirror is legacy debris a migration archives, not a run it would migrate.
    assert mirrored.legacy == {"archive": {"items": 1}}
    assert mirrored.dual_write_errors == 2
    assert mirrored.to_json()["last_dual_write_errors"][-1]["error"] == "EPERM"


def test_verify_finds_tampering_and_checks_copies(fs: Any) -> None:
    root = Path("/proj")
    make_legacy_project(root, sessions=1)
    fs.add_mount_point("/proj/run_logs")
    project = contract(root)
    with pytest.raises(NotFound, match="no migration to verify"):
        verify(project)
    result = apply(project)
    (migration,) = list_migrations(project.migrations_dir)
    assert migration.journal is not None
    copied = [d for d in migration.journal.done.values() if d.get("sha256")]
    assert copied  # the run folders crossed a device
    record = RunIndexReader(project.index_dir, root).query()[0]
    events = root / str(record.run_logs_path) / "events.jsonl"
    stat = events.stat()
    events.write_bytes(events.read_bytes().replace(b"run", b"RUN"))
    os.utime(events, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = verify(project, result.migration_id)
    assert not report.ok
    assert report.problems == (
        f"{record.run_logs_path}/events.jsonl: checksum differs from the copy",
    )


def test_a_destination_taken_after_the_plan_makes_it_stale(
    disk_project: FilesystemContract,
) -> None:
    # The stale check looks a target up only when its folder does not already answer.
    project = disk_project
    planned = plan(project)
    moved = next(op for op in planned.ops if op.describe().startswith("move logs/run_"))
    (project.base_path / moved.describe().rpartition(" -> ")[2]).mkdir(parents=True)
    before = snapshot(project.base_path)
    with pytest.raises(StalePlan, match="the project changed since the plan was made") as stale:
        apply(project, planned)
    assert f"{moved.src}: changed since the plan" in str(stale.value)
    changed = diff_trees(before, snapshot(project.base_path), modes=True, mtimes=True).paths
    assert not changed - {".osiris", ".osiris/lock"}  # only the project lock was taken


@pytest.mark.allow_legacy_writes
def test_verify_finds_a_same_size_edit_of_a_file_the_plan_read(
    disk_project: FilesystemContract,
) -> None:
    project = disk_project
    planned = plan(project)
    status = next(project.base_path.glob("logs/run_*/status.json"))
    stat = status.stat()
    status.write_bytes(status.read_bytes().replace(b"true", b"TRUE"))
    os.utime(status, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = apply(project, planned)
    report = verify(project, result.migration_id)
    assert [
        p.endswith(
            "/status.json: differs from what the plan read (its index record came from that)"
        )
        for p in report.problems
    ] == [True]
