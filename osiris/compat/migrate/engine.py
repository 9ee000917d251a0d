"""`osiris migrate apply | rollback | finalize`: a plan's steps run under the project lock and a
write-ahead journal (see `osiris/compat/migration_journal.py`), so a crash at any point can
be resumed or undone.

Test hook: with `OSIRIS_MIGRATE_KILL_AFTER_OPS=N` in the environment the process SIGKILLs
itself right after the N-th step it applies or undoes, before that step's `done` line is
written (the crash harness uses it to stop a migration at an exact step);
`OSIRIS_MIGRATE_KILL_SIGNAL=INT` sends SIGINT instead, as a Ctrl-C at that moment would.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from send2trash import send2trash

from osiris.compat import legacy_layout as layout
from osiris.compat.migrate import inventory
from osiris.compat.migrate.gc_pause import gc_paused
from osiris.compat.migrate.ops import (
    DirTime,
    MoveFile,
    MoveTree,
    Op,
    Step,
    StepRefused,
    ops_touched,
    set_aside,
)
from osiris.compat.migrate.plan import plan as plan_project
from osiris.compat.migrate.receipt import RECEIPT, Receipt, read_receipt, write_receipt
from osiris.compat.migrate.saved_plan import LEGACY_ARCHIVE, MIRROR_NOTE, Plan, describe_changes
from osiris.compat.migrate.seen import unchanged
from osiris.compat.migrate.verify import verify_steps
from osiris.compat.migration_journal import (
    APPLIED,
    APPLYING,
    BOTH_WAYS,
    FINALIZED,
    FINALIZED_STATE,
    FINISH_ROLLBACK,
    JOURNAL,
    PLAN,
    ROLLED_BACK,
    ROLLING_BACK,
    Journal,
    Migration,
    interrupted,
    list_migrations,
    pick,
)
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import atomic_write_text, fsync_dir, pretty_json
from osiris.core.lock import project_lock, project_lock_path, refuse_if_held
from osiris.core.run_index import read_pointer, utc_now_iso
from osiris.errors import (
    MigrationIncomplete,
    PlanConflict,
    RollbackRefused,
    StalePlan,
    UnfinishedMigration,
    UsageError,
    VerificationFailed,
)

# Steps per journal batch: each batch costs a begin and a done fsync and one fsync per
# folder it changed; after a crash at most one batch is re-checked step by step.
BATCH = 5000
KILL_ENV = "OSIRIS_MIGRATE_KILL_AFTER_OPS"
KILL_SIGNAL_ENV = "OSIRIS_MIGRATE_KILL_SIGNAL"
LEFTOVERS = "rollback-leftovers"  # .osiris/legacy/rollback-leftovers/<migration id>/
NOTHING_TO_MIGRATE = "Nothing to migrate: the project already uses the contract layout."
# legacy-layout.md §1: the folders finalize removes once the migration emptied them.
LEGACY_FOLDERS = (
    layout.LOGS_DIR,
    layout.COMPILED_DIR,
    layout.CHAT_SESSIONS_DIR,
    layout.CACHE_DIR,
    layout.PROMPTS_DIR,
    layout.AIOP_ANNEX_DIR,
)
_SHOWN = 3

Progress = Callable[[int, int], None]
Done = dict[int, dict[str, Any] | None]  # step index -> what the journal keeps of it


@dataclass(frozen=True)
class ApplyResult:
    """What `apply` did: the migration (None when there was nothing to migrate) and its steps."""

    migration_id: str | None
    ops: int = 0
    applied: int = 0  # steps run by this call
    resumed: bool = False
    summary: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return self.migration_id is None

    def to_json(self) -> dict[str, Any]:
        return {
            "migration_id": self.migration_id,
            "ops": self.ops,
            "applied": self.applied,
            "resumed": self.resumed,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class RollbackResult:
    """What `rollback` undid, and what it kept (`--force`) or found already gone."""

    migration_id: str
    undone: int
    resumed: bool
    forced: bool
    set_aside: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kept_folders: list[str] = field(default_factory=list)
    already: bool = False
    dropped_pointers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "migration_id": self.migration_id,
            "undone": self.undone,
            "resumed": self.resumed,
            "forced": self.forced,
            "already_rolled_back": self.already,
            "set_aside": self.set_aside,
            "kept": self.kept,
            "missing": self.missing,
            "kept_folders": self.kept_folders,
            "dropped_pointers": self.dropped_pointers,
        }


@dataclass(frozen=True)
class FinalizeResult:
    """The finalized migration, the emptied legacy folders removed, and what went to the trash."""

    migration_id: str
    removed: list[str]
    trashed: list[str]
    already: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "migration_id": self.migration_id,
            "already_finalized": self.already,
            "removed": self.removed,
            "trashed": self.trashed,
        }


class _StepFailed(Exception):
    def __init__(self, index: int, op: Step, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.op = op
        self.error = error


def _rel(project: FilesystemContract, path: Path) -> str:
    return project.relative(path)


def unfinished(project: FilesystemContract) -> Migration | None:
    """The migration whose apply or rollback was cut short, if any."""
    return interrupted(project.migrations_dir)


def unfinished_error(project: FilesystemContract, migration: Migration) -> UnfinishedMigration:
    """The error naming an interrupted migration and both ways out (like hg's recover)."""
    journal = migration.journal
    assert journal is not None  # unfinished migrations keep their journal
    where = _rel(project, migration.folder)
    if migration.state == ROLLING_BACK:
        todo = len(journal.rollback["ops"]) if journal.rollback else 0
        return UnfinishedMigration(
            f"the rollback of migration {migration.migration_id} was interrupted with "
            f"{_progress(len(journal.undone), todo, journal.undo_begun - set(journal.undone))}",
            path=where,
            hint=FINISH_ROLLBACK,
        )
    return UnfinishedMigration(
        f"migration {migration.migration_id} was interrupted with "
        f"{_progress(len(journal.done), journal.total, journal.begun - set(journal.done))}",
        path=where,
        hint=BOTH_WAYS,
    )


def _progress(done: int, total: int, under_way: set[int]) -> str:
    # Steps are recorded done per batch: those of the batch a kill cut short are under way.
    text = f"{done} of {total} steps done"
    return f"{text}, {len(under_way)} under way" if under_way else text


def refuse_if_unfinished(project: FilesystemContract) -> None:
    """Raise `UnfinishedMigration` while an interrupted migration blocks new work."""
    pending = unfinished(project)
    if pending is not None:
        raise unfinished_error(project, pending)


def _listed(lines: Sequence[str]) -> str:
    shown = "; ".join(lines[:_SHOWN])
    return shown + (f" (and {len(lines) - _SHOWN} more)" if len(lines) > _SHOWN else "")


def _check_fresh(reviewed: Plan | None, current: Plan) -> None:
    if reviewed is not None and reviewed.fingerprint != current.fingerprint:
        changes = describe_changes(reviewed, current) or ["the planned steps differ"]
        raise StalePlan(
            f"the project changed since the plan was made: {_listed(changes)}",
            hint="run `osiris migrate plan` again",
        )


def conflict_error(plan: Plan) -> PlanConflict:
    """The refusal of a plan with conflicts, naming the first few."""
    conflicts = [str(p) for p in plan.conflicts]
    return PlanConflict(
        f"{len(conflicts)} conflict(s): {_listed(conflicts)}",
        hint="resolve them and run `osiris migrate plan` again; nothing was changed",
    )


def _kill_signal() -> signal.Signals:
    return signal.SIGINT if os.environ.get(KILL_SIGNAL_ENV) == "INT" else signal.SIGKILL


def _kill_after() -> int:
    try:
        return int(os.environ.get(KILL_ENV, "") or 0)
    except ValueError:
        return 0


def _restore_folder_times(root: Path, times: Iterable[DirTime]) -> None:
    for kept in {t.path: t for t in times}.values():
        kept.put_back(root)


def _execute(
    root: Path,
    steps: Sequence[tuple[int, Step]],
    journal: Journal,
    *,
    undo: bool,
    progress: Progress | None,
    done_before: int,
    total: int,
    folder_times: Mapping[int, tuple[DirTime, ...]] | None = None,
) -> Done:
    """Run steps in batches: begin lines (one fsync), the steps, done lines (one fsync).

    Returns the details of the steps run. Undo steps come without their folder mtimes
    (`times`), given instead in `folder_times`: each folder gets its plan-time mtime back
    once per batch, after the batch's steps and before its done lines, so also when the
    batch finishes steps a crash cut short.
    """
    kill_after = _kill_after()
    ran: Done = {}
    for start in range(0, len(steps), BATCH):
        batch = steps[start : start + BATCH]
        journal.begin((i for i, _ in batch), undo=undo)
        finished: list[tuple[int, Step, dict[str, Any] | None]] = []
        try:
            for index, op in batch:
                try:
                    details = op.apply(root)
                except (StepRefused, OSError) as exc:
                    raise _StepFailed(index, op, exc) from exc
                if len(ran) + len(finished) + 1 == kill_after:
                    os.kill(os.getpid(), _kill_signal())
                finished.append((index, op, details))
                if progress is not None:
                    progress(done_before + len(ran) + len(finished), total)
        finally:
            if finished:
                if folder_times:
                    kept = (t for i, _, _ in finished for t in folder_times[i])
                    _restore_folder_times(root, kept)
                # The renames must be durable before the journal says they happened.
                for folder in ops_touched(op for _, op, _ in finished):
                    if inventory.entry_of(root / folder) is not None:
                        fsync_dir(root / folder)
                journal.done(((i, d) for i, _, d in finished), undo=undo)
                ran.update((i, d) for i, _, d in finished)
    return ran


# -- apply ----------------------------------------------------------------------------------


@gc_paused
def apply(
    project: FilesystemContract, plan: Plan | None = None, *, progress: Progress | None = None
) -> ApplyResult:
    """Run a plan (default: a fresh one), or resume the migration a crash interrupted.

    Refuses a stale plan, a plan with conflicts and a busy project lock, all before writing.
    """
    refuse_if_held(project_lock_path(project.osiris_dir))  # before seconds of planning
    first = plan
    if unfinished(project) is None:
        # Nothing to migrate and conflicts are answered before the lock file is even
        # created, so they write nothing (a refusal leaves no trace).
        first = plan if plan is not None and not plan.is_empty else plan_project(project)
        _check_fresh(plan, first)
        if first.is_empty:
            return ApplyResult(None)
        if first.conflicts:
            raise conflict_error(first)
    with project_lock(project.osiris_dir, wait=False):
        pending = unfinished(project)  # state is read again now that the lock is held
        if pending is not None:
            check_resumable(project, pending, plan)
            return _resume(project, pending, progress)
        current = (
            first if first is not None and _unchanged(project, first) else plan_project(project)
        )
        _check_fresh(plan, current)
        if current.conflicts:
            raise conflict_error(current)
        if current.is_empty:
            return ApplyResult(None)
        return _start(project, current, progress)


def _unchanged(project: FilesystemContract, planned: Plan | None) -> bool:
    # Far cheaper than planning again (which reads every session): see seen.py.
    if planned is None or planned.is_empty:
        return False
    return unchanged(project.base_path, project.config, planned.seen, planned.ops)


def _start(project: FilesystemContract, plan: Plan, progress: Progress | None) -> ApplyResult:
    now = utc_now_iso()
    # Milliseconds order two migrations of one second; ids sort by time (migration_journal.py).
    stamp = now.replace("-", "").replace(":", "")
    migration_id = f"{stamp}-{plan.fingerprint[:8]}"
    folder = project.migrations_dir / migration_id
    folder.mkdir(parents=True)
    header = {
        "migration_id": migration_id,
        "fingerprint": plan.fingerprint,
        "created_at": now,
        "ops": len(plan.ops),
    }
    try:
        plan.save(folder / PLAN)
        journal = Journal.create(folder, header)
    except BaseException:
        # Nothing has moved yet: a folder without its journal would only be debris.
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _run(project, migration_id, plan, journal, {}, progress, resumed=False)


def check_resumable(project: FilesystemContract, pending: Migration, reviewed: Plan | None) -> None:
    """Refuse to resume an interrupted rollback, or a migration of another plan."""
    if pending.state != APPLYING or (
        reviewed is not None and reviewed.fingerprint != pending.header.get("fingerprint")
    ):
        raise unfinished_error(project, pending)


def _resume(
    project: FilesystemContract, pending: Migration, progress: Progress | None
) -> ApplyResult:
    assert pending.journal is not None
    plan = Plan.load(pending.folder / PLAN)
    journal = Journal(pending.folder)
    done: Done = dict(pending.journal.done)
    for index in sorted(pending.journal.begun - set(done)):
        # Steps the kill cut short first clear what they left half-done (a staged copy).
        plan.ops[index].recover(project.base_path)
    return _run(project, pending.migration_id, plan, journal, done, progress, resumed=True)


def _run(
    project: FilesystemContract,
    migration_id: str,
    plan: Plan,
    journal: Journal,
    done: Done,
    progress: Progress | None,
    *,
    resumed: bool,
) -> ApplyResult:
    root = project.base_path
    steps = [(i, op) for i, op in enumerate(plan.ops) if i not in done]
    where = _rel(project, journal.folder)
    try:
        ran = _execute(
            root,
            steps,
            journal,
            undo=False,
            progress=progress,
            done_before=len(done),
            total=len(plan.ops),
        )
    except _StepFailed as failed:
        raise MigrationIncomplete(
            f"step {failed.index + 1} of {len(plan.ops)} ({failed.op.describe()}) failed: "
            f"{failed.error}",
            path=where,
            hint=BOTH_WAYS,
        ) from failed.error
    finished = {**done, **ran}
    problems = [str(p) for p in verify_steps(root, plan.ops, finished)]
    if not problems:
        write_receipt(journal.folder, plan.fingerprint, plan.ops, finished, root)
    journal.mark("applied", at=utc_now_iso(), verified=not problems, problems=problems[:100])
    if problems:
        raise VerificationFailed(
            f"migration {migration_id} was applied but {len(problems)} difference(s) were "
            f"found: {_listed(problems)}",
            path=where,
            hint="`osiris migrate verify` lists them; `osiris migrate rollback` undoes it",
        )
    return ApplyResult(migration_id, len(plan.ops), len(ran), resumed, plan.summary())


# -- rollback -------------------------------------------------------------------------------


def _undo_step(op: Op, leftovers: PurePosixPath | None) -> Op:
    """The reverse of a step, without its folder mtimes: `_execute` puts them back per batch."""
    return op.reverse().without_times(leftovers)


@gc_paused
def rollback(
    project: FilesystemContract,
    migration_id: str | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> RollbackResult:
    """Undo a migration (default: the newest) from its journal, last step first.

    Refuses when later changes would be lost, unless `force`: then later files are moved to
    `.osiris/legacy/rollback-leftovers/<id>/`, later index records and newer pointers stay.
    """
    root = project.base_path
    with project_lock(project.osiris_dir, wait=False):
        migrations = list_migrations(project.migrations_dir)
        states = (APPLIED, APPLYING, ROLLING_BACK, ROLLED_BACK, FINALIZED_STATE)
        target = pick(migrations, migration_id, states, "roll back")
        if target.state == FINALIZED_STATE:
            raise UsageError(
                f"migration {target.migration_id} was finalized and can no longer be rolled back"
            )
        if target.state == ROLLED_BACK:
            return RollbackResult(target.migration_id, 0, False, False, already=True)
        later = [
            m.migration_id
            for m in migrations
            if m.migration_id > target.migration_id and m.state != ROLLED_BACK
        ]
        if later:
            raise UsageError(
                f"migration {later[-1]} came after {target.migration_id}",
                hint=f"roll back {later[-1]} first",
            )
        assert target.journal is not None
        journal = Journal(target.folder)
        state = target.journal
        leftovers = PurePosixPath(
            project.relative(project.osiris_dir / LEGACY_ARCHIVE / LEFTOVERS / target.migration_id)
        )
        resumed = state.rollback is not None
        if resumed:
            assert state.rollback is not None
            force = bool(state.rollback.get("force"))
        todo, undos, times = _undo_steps(root, target, force=force, leftovers=leftovers)
        if not resumed:
            journal.mark("rollback", at=utc_now_iso(), force=force, ops=todo)
        steps = [(i, undos[i]) for i in todo if i not in state.undone]
        try:
            ran = _execute(
                root,
                steps,
                journal,
                undo=True,
                progress=progress,
                done_before=len(todo) - len(steps),
                total=len(todo),
                folder_times=times,
            )
        except _StepFailed as failed:
            raise MigrationIncomplete(
                f"undoing step {failed.index + 1} ({failed.op.describe()}) failed: {failed.error}",
                path=_rel(project, target.folder),
                hint="fix the cause, then run `osiris migrate rollback` again to finish",
            ) from failed.error
        # Only --force keeps pointers written after the migration.
        dangling = _drop_dangling_pointers(project, target, leftovers) if force else []
        journal.mark("rolled-back", at=utc_now_iso())
    notes: dict[str, list[str]] = {"aside": [], "kept": [], "missing": [], "kept_folders": []}
    for details in {**state.undone, **ran}.values():
        if not details:
            continue  # most steps keep nothing
        for key, found in notes.items():
            value = details.get(key)
            found += value if isinstance(value, list) else ([value] if value else [])
    return RollbackResult(
        target.migration_id,
        len(ran),
        resumed,
        force,
        set_aside=notes["aside"],
        kept=notes["kept"],
        missing=notes["missing"],
        kept_folders=notes["kept_folders"],
        dropped_pointers=dangling,
    )


def _drop_dangling_pointers(
    project: FilesystemContract, target: Migration, leftovers: PurePosixPath
) -> list[str]:
    """Pointers kept by a forced rollback that name a build it moved back to the legacy
    layout: `run --last-compile` would silently fall back to an older compile. They are set
    aside with the other leftovers (never deleted) and reported."""
    moved = {
        op.dst
        for op in Plan.load(target.folder / PLAN).ops
        if isinstance(op, (MoveTree, MoveFile))
        and not inventory.entry_of(project.base_path / op.dst)
    }
    if not moved:
        return []
    latest = project.last_compile_pointer.parent / "latest"
    files = [
        project.last_compile_pointer,
        *(sorted(latest.glob("*.txt")) if latest.is_dir() else []),
    ]
    dropped = []
    for file in files:
        pointer = read_pointer(file) if file.is_file() else None
        if pointer is None or (project.base_path / pointer.manifest_path).exists():
            continue
        names = PurePosixPath(pointer.manifest_path)
        if any(PurePosixPath(dst) in names.parents for dst in moved):
            aside = set_aside(project.base_path, PurePosixPath(project.relative(file)), leftovers)
            dropped.append(f"{project.relative(file)} (named {pointer.manifest_path}; now {aside})")
    return dropped


def _undo_steps(
    root: Path, target: Migration, *, force: bool, leftovers: PurePosixPath
) -> tuple[list[int], dict[int, Step], Mapping[int, tuple[DirTime, ...]]]:
    """The steps to undo (last first), their undo steps, and the folder mtimes to put back.

    From the receipt when it holds (see receipt.py); else from the plan, refusing when later
    changes would be lost unless `force`. A rollback under way keeps its recorded steps.
    """
    state = target.journal
    assert state is not None
    quick = None if force or state.rollback is not None else _quick_undo(root, target)
    if quick is not None:
        return list(quick.undos), quick.undos, quick.times
    ops = Plan.load(target.folder / PLAN).ops
    times = {i: op.times for i, op in enumerate(ops)}
    aside = leftovers if force else None
    if state.rollback is not None:
        todo: list[int] = list(state.rollback["ops"])
        left: dict[int, Step] = {
            i: _undo_step(ops[i], aside) for i in todo if i not in state.undone
        }
        return todo, left, times
    todo = [
        i
        for i in reversed(range(len(ops)))
        if i in state.done or (i in state.begun and ops[i].recover(root))
    ]
    undos: dict[int, Step] = {i: _undo_step(ops[i], aside) for i in todo}
    with inventory.remembered():
        problems = [p for i in todo for p in undos[i].check(root)]
    if problems and not force:
        raise RollbackRefused(
            f"rolling back {target.migration_id} would lose changes made after it: "
            f"{_listed([str(p) for p in problems])}",
            hint=(
                "move them away and try again, or use --force: later files are moved to "
                f"{leftovers}/, later index records and newer pointers are kept"
            ),
        )
    return todo, undos, times


def _quick_undo(root: Path, migration: Migration) -> Receipt | None:
    """The receipt of a migration applied whole, when every step of it passes its check
    (see receipt.py); else None, and the full plan answers and names what changed."""
    if migration.state != APPLIED:
        return None
    receipt = read_receipt(migration.folder, str(migration.header.get("fingerprint")))
    return receipt if receipt is not None and receipt.holds(root) else None


# -- finalize -------------------------------------------------------------------------------


def _remove_empty_folders(root: Path) -> list[str]:
    """Remove the legacy folders (and folders below them) that hold nothing; never a file."""
    removed = []
    for top in LEGACY_FOLDERS:
        path = root / top
        entry = inventory.entry_of(path)
        if entry is None or entry.kind != "d":
            continue
        for folder, _, _ in sorted(os.walk(path, followlinks=False), key=lambda w: -len(w[0])):
            if not os.listdir(folder):
                os.rmdir(folder)
                removed.append(Path(folder).relative_to(root).as_posix())
    return removed


def _archived_runs(plan: Plan) -> list[str]:
    """Run sessions a plan archived instead of migrating (a dual-mode mirror's run lives on
    in the contract layout and does not count): `finalize --trash` must never discard one."""
    return [
        item.dst
        for item in plan.items
        if item.kind == "archive"
        and item.dst is not None
        and PurePosixPath(item.src).parent == layout.LOGS_DIR
        and layout.classify_session(PurePosixPath(item.src).name) is layout.SessionKind.RUN
        and not item.note.startswith(MIRROR_NOTE)
    ]


def finalize(
    project: FilesystemContract, migration_id: str | None = None, *, trash: bool = False
) -> FinalizeResult:
    """End a migration's reversibility: keep a small record, drop journal and plan, remove the
    emptied legacy folders, and with `trash` send `.osiris/legacy/` to the OS trash."""
    root = project.base_path
    archive = project.osiris_dir / LEGACY_ARCHIVE
    with project_lock(project.osiris_dir, wait=False):
        refuse_if_unfinished(project)
        migrations = list_migrations(project.migrations_dir)
        target = pick(migrations, migration_id, (APPLIED, FINALIZED_STATE), "finalize")
        if target.state == FINALIZED_STATE:
            return FinalizeResult(target.migration_id, [], [], already=True)
        others = [m.migration_id for m in migrations if m.state == APPLIED and m is not target]
        if trash and others:
            raise UsageError(
                f"--trash would discard what migration {others[0]} archived in .osiris/legacy/",
                hint=f"finalize {', '.join(others)} first",
            )
        assert target.journal is not None
        plan = Plan.load(target.folder / PLAN)
        kept_runs = _archived_runs(plan)
        if trash and kept_runs:
            raise UsageError(
                f"--trash would discard {len(kept_runs)} run session(s) that were archived, not "
                f"migrated: {_listed(kept_runs)}",
                hint="move them out of .osiris/legacy/ first, or finalize without --trash",
            )
        record = {
            "migration_id": target.migration_id,
            "fingerprint": target.header.get("fingerprint"),
            "created_at": target.header.get("created_at"),
            "applied_at": (target.journal.applied or {}).get("at"),
            "finalized_at": utc_now_iso(),
            "ops": target.journal.total,
            "summary": plan.summary(),
        }
        atomic_write_text(target.folder / FINALIZED, pretty_json(record))
        for name in (JOURNAL, PLAN, RECEIPT):
            (target.folder / name).unlink(missing_ok=True)
        fsync_dir(target.folder)
        removed = _remove_empty_folders(root)
        trashed = []
        if trash and inventory.entry_of(archive) is not None:
            send2trash(str(archive))
            trashed.append(project.relative(archive))
    return FinalizeResult(target.migration_id, removed, trashed)
