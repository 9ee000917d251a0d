"""`osiris migrate apply`: a plan's steps run under the project lock and a write-ahead
journal (see `osiris/compat/migration_journal.py`), so a crash at any point can be resumed
or undone; in one line: plan -> journal -> execute (execution.py) -> verify -> record.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from osiris.compat.migrate.execution import (
    KILL_ENV,
    Done,
    Progress,
    StepFailed,
    execute_steps,
    listed,
    refuse_if_unfinished,
    relative,
    unfinished,
    unfinished_error,
)
from osiris.compat.migrate.planner import plan as plan_project
from osiris.compat.migrate.receipt import write_receipt
from osiris.compat.migrate.reviewed_plan import ReviewedPlan, describe_changes
from osiris.compat.migrate.saved_plan import Plan
from osiris.compat.migrate.seen import unchanged
from osiris.compat.migrate.verification import verify_steps
from osiris.compat.migration_journal import APPLYING, BOTH_WAYS, PLAN, Journal, Migration
from osiris.core.fs_paths import FilesystemContract
from osiris.core.gc_pause import gc_paused
from osiris.core.lock import project_lock, project_lock_path, refuse_if_held
from osiris.core.run_index import utc_now_iso
from osiris.errors import MigrationIncomplete, PlanConflict, StalePlan, VerificationFailed

NOTHING_TO_MIGRATE = "Nothing to migrate: the project already uses the contract layout."
# Names of execution.py that callers of the engine use (the CLI, the crash harness).
__all__ = [
    "KILL_ENV",
    "NOTHING_TO_MIGRATE",
    "ApplyResult",
    "apply",
    "check_fresh",
    "check_resumable",
    "conflict_error",
    "refuse_if_unfinished",
    "unfinished",
    "unfinished_error",
]


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


def check_fresh(reviewed: Plan | ReviewedPlan | None, current: Plan) -> None:
    """Refuse `current` unless it is the plan reviewed (same fingerprint), naming what changed."""
    if reviewed is not None and reviewed.fingerprint != current.fingerprint:
        before = reviewed if isinstance(reviewed, ReviewedPlan) else ReviewedPlan.of(reviewed)
        changes = describe_changes(before, ReviewedPlan.of(current))
        changes = changes or ["the planned steps differ"]
        raise StalePlan(
            f"the project changed since the plan was made: {listed(changes)}",
            hint="run `osiris migrate plan` again",
        )


def conflict_error(plan: Plan) -> PlanConflict:
    """The refusal of a plan with conflicts, naming the first few."""
    conflicts = [str(p) for p in plan.conflicts]
    return PlanConflict(
        f"{len(conflicts)} conflict(s): {listed(conflicts)}",
        hint="resolve them and run `osiris migrate plan` again; nothing was changed",
    )


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
        check_fresh(plan, first)
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
        check_fresh(plan, current)
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


def check_resumable(
    project: FilesystemContract, pending: Migration, reviewed: Plan | ReviewedPlan | None
) -> None:
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
    where = relative(project, journal.folder)
    try:
        ran = execute_steps(
            root,
            steps,
            journal,
            undo=False,
            progress=progress,
            done_before=len(done),
            total=len(plan.ops),
        )
    except StepFailed as failed:
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
            f"found: {listed(problems)}",
            path=where,
            hint="`osiris migrate verify` lists them; `osiris migrate rollback` undoes it",
        )
    return ApplyResult(migration_id, len(plan.ops), len(ran), resumed, plan.summary())
