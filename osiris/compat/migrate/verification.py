"""`osiris migrate verify`: re-check a finished migration against what it recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.compat.migrate import inventory
from osiris.compat.migrate.mirrors import divergence, mirror_pairs
from osiris.compat.migrate.ops import Op, Problem
from osiris.compat.migrate.saved_plan import Plan
from osiris.compat.migration_journal import APPLIED, PLAN, list_migrations, pick
from osiris.core.fs_paths import FilesystemContract
from osiris.core.gc_pause import gc_paused


@dataclass(frozen=True)
class VerifyReport:
    """The differences found for one migration (and, in dual mode, for every mirror)."""

    migration_id: str
    checked: int
    problems: tuple[str, ...]
    mirrors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.mirrors

    def to_json(self) -> dict[str, Any]:
        return {
            "migration_id": self.migration_id,
            "ok": self.ok,
            "checked": self.checked,
            "problems": list(self.problems),
            "mirrors": list(self.mirrors),
        }


def verify_steps(
    root: Path,
    ops: Sequence[Op],
    done: Mapping[int, Mapping[str, Any] | None],
    *,
    thorough: bool = False,
) -> list[Problem]:
    """Check every done step against its inventory (and the checksums of copies).

    At the end of `apply` a renamed folder is checked folder by folder (a rename moves
    everything inside); `thorough` (`osiris migrate verify`) compares every path.
    """
    problems: list[Problem] = []
    with inventory.remembered():
        for index in sorted(done):
            problems += ops[index].verify(root, done[index], thorough=thorough)
    return problems


@gc_paused
def verify(project: FilesystemContract, migration_id: str | None = None) -> VerifyReport:
    """Re-check an applied migration (default: the newest) and, in dual mode, every mirror."""
    migration = pick(list_migrations(project.migrations_dir), migration_id, (APPLIED,), "verify")
    assert migration.journal is not None  # an applied migration keeps its journal
    plan = Plan.load(migration.folder / PLAN)
    problems = verify_steps(project.base_path, plan.ops, migration.journal.done, thorough=True)
    mirrors: list[str] = []
    if project.config.compat.mode == "dual":
        for pair in mirror_pairs(project):
            mirrors += divergence(project.base_path, pair)
    return VerifyReport(
        migration_id=migration.migration_id,
        checked=len(migration.journal.done),
        problems=tuple(str(p) for p in problems),
        mirrors=tuple(mirrors),
    )
