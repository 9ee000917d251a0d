"""The batched executor shared by `apply` and `rollback`, and the refusal of new work while a
migration is unfinished: kept apart from the planner so that `rollback` loads only this,
the journal and the steps.

Test hook: with `OSIRIS_MIGRATE_KILL_AFTER_OPS=N` in the environment the process SIGKILLs
itself right after the N-th step it applies or undoes, before that step's `done` line is
written (the crash harness uses it to stop a migration at an exact step);
`OSIRIS_MIGRATE_KILL_SIGNAL=INT` sends SIGINT instead, as a Ctrl-C at that moment would.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from osiris.compat.migrate import inventory
from osiris.compat.migrate.ops import DirTime, Step, StepRefused, ops_touched
from osiris.compat.migration_journal import (
    BOTH_WAYS,
    FINISH_ROLLBACK,
    ROLLING_BACK,
    Journal,
    Migration,
    interrupted,
)
from osiris.core.fsio import fsync_dir
from osiris.core.project_dirs import ProjectHome
from osiris.errors import UnfinishedMigration

# Steps per journal batch: each batch costs a begin and a done fsync and one fsync per
# folder it changed; after a crash at most one batch is re-checked step by step.
BATCH = 5000
KILL_ENV = "OSIRIS_MIGRATE_KILL_AFTER_OPS"
KILL_SIGNAL_ENV = "OSIRIS_MIGRATE_KILL_SIGNAL"
_SHOWN = 3

Progress = Callable[[int, int], None]
Done = dict[int, dict[str, Any] | None]  # step index -> what the journal keeps of it


class StepFailed(Exception):
    def __init__(self, index: int, op: Step, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.op = op
        self.error = error


def relative(project: ProjectHome, path: Path) -> str:
    return project.relative(path)


def unfinished(project: ProjectHome) -> Migration | None:
    """The migration whose apply or rollback was cut short, if any."""
    return interrupted(project.migrations_dir)


def unfinished_error(project: ProjectHome, migration: Migration) -> UnfinishedMigration:
    """The error naming an interrupted migration and both ways out (like hg's recover)."""
    journal = migration.journal
    assert journal is not None  # unfinished migrations keep their journal
    where = relative(project, migration.folder)
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


def refuse_if_unfinished(project: ProjectHome) -> None:
    """Raise `UnfinishedMigration` while an interrupted migration blocks new work."""
    pending = unfinished(project)
    if pending is not None:
        raise unfinished_error(project, pending)


def listed(lines: Sequence[str]) -> str:
    shown = "; ".join(lines[:_SHOWN])
    return shown + (f" (and {len(lines) - _SHOWN} more)" if len(lines) > _SHOWN else "")


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


def execute_steps(
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
                    raise StepFailed(index, op, exc) from exc
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
