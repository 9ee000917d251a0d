"""`osiris migrate rollback`: a migration undone from its journal, last step first, through
the batched executor of execution.py; from the receipt when it holds, else from the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat.migrate import inventory
from osiris.compat.migrate.execution import Progress, StepFailed, execute_steps, listed, relative
from osiris.compat.migrate.ops import (
    LEGACY_ARCHIVE,
    DirTime,
    MoveFile,
    MoveTree,
    Op,
    Step,
    set_aside,
)
from osiris.compat.migrate.receipt import Receipt, read_receipt
from osiris.compat.migration_journal import (
    APPLIED,
    APPLYING,
    FINALIZED_STATE,
    PLAN,
    ROLLED_BACK,
    ROLLING_BACK,
    Journal,
    Migration,
    list_migrations,
    pick,
)
from osiris.core.gc_pause import gc_paused
from osiris.core.lock import project_lock
from osiris.core.project_dirs import ProjectHome
from osiris.core.timestamps import utc_now_iso
from osiris.errors import MigrationIncomplete, RollbackRefused, UsageError

LEFTOVERS = "rollback-leftovers"  # .osiris/legacy/rollback-leftovers/<migration id>/


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


def _undo_step(op: Op, leftovers: PurePosixPath | None) -> Op:
    """The reverse of a step without its folder mtimes: `execute_steps` restores those."""
    return op.reverse().without_times(leftovers)


@gc_paused
def rollback(
    project: ProjectHome,
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
            ran = execute_steps(
                root,
                steps,
                journal,
                undo=True,
                progress=progress,
                done_before=len(todo) - len(steps),
                total=len(todo),
                folder_times=times,
            )
        except StepFailed as failed:
            raise MigrationIncomplete(
                f"undoing step {failed.index + 1} ({failed.op.describe()}) failed: {failed.error}",
                path=relative(project, target.folder),
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
    project: ProjectHome, target: Migration, leftovers: PurePosixPath
) -> list[str]:
    """Pointers kept by a forced rollback that name a build it moved back to the legacy
    layout: `run --last-compile` would silently fall back to an older compile. They are set
    aside with the other leftovers (never deleted) and reported."""
    from osiris.compat.migrate.saved_plan import Plan
    from osiris.core.run_index import read_pointer

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
    # Loaded only here: a rollback from the receipt never reads the plan.
    from osiris.compat.migrate.saved_plan import Plan

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
            f"{listed([str(p) for p in problems])}",
            hint=(
                "move them away and try again, or use --force: changed folders go back with "
                f"their changes, other later files are moved to {leftovers}/, later index "
                "records and newer pointers are kept"
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
