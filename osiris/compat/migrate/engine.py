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
from pathlib import Path
from typing import Any

from osiris.compat.migrate import inventory
from osiris.compat.migrate.gc_pause import gc_paused
from osiris.compat.migrate.ops import DirTime, Step, StepRefused, ops_touched
from osiris.compat.migrate.plan import plan as plan_project
from osiris.compat.migrate.receipt import write_receipt
from osiris.compat.migrate.saved_plan import Plan, describe_changes
from osiris.compat.migrate.seen import unchanged
from osiris.compat.migrate.verify import verify_steps
from osiris.compat.migration_journal import (
    APPLYING,
    BOTH_WAYS,
    FINISH_ROLLBACK,
    PLAN,
    ROLLING_BACK,
    Journal,
    Migration,
    interrupted,
)
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import fsync_dir
from osiris.core.lock import project_lock, project_lock_path, refuse_if_held
from osiris.core.run_index import utc_now_iso
from osiris.errors import (
    MigrationIncomplete,
    PlanConflict,
    StalePlan,
    UnfinishedMigration,
    VerificationFailed,
)

# Steps per journal batch: each batch costs a begin and a done fsync and one fsync per
# folder it changed; after a crash at most one batch is re-checked step by step.
BATCH = 5000
KILL_ENV = "OSIRIS_MIGRATE_KILL_AFTER_OPS"
KILL_SIGNAL_ENV = "OSIRIS_MIGRATE_KILL_SIGNAL"
NOTHING_TO_MIGRATE = "Nothing to migrate: the project already uses the contract layout."
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
