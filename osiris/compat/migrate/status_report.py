"""`osiris migrate status`: the mode, legacy items left, migrations, and mirror divergence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from osiris.compat.dual_write import errors_file
from osiris.compat.migrate.mirrors import divergence, mirror_pairs
from osiris.compat.migrate.planner import plan as plan_project
from osiris.compat.migration_journal import Migration, list_migrations
from osiris.core.fs_paths import FilesystemContract

# Planned items that are derived, not legacy items of their own.
_DERIVED = ("pointer", "index")
_LAST_ERRORS = 5


@dataclass(frozen=True)
class StatusReport:
    """Where a project stands in its migration from the legacy layout."""

    fs_mode: str
    legacy: dict[str, dict[str, int]]  # kind -> items (what a migration would move)
    conflicts: tuple[str, ...]
    migrations: tuple[Migration, ...]
    mirror_problems: tuple[str, ...]
    dual_write_errors: int
    last_dual_write_errors: tuple[dict[str, Any], ...]

    @property
    def incomplete(self) -> list[Migration]:
        return [m for m in self.migrations if m.unfinished]

    @property
    def work_left(self) -> bool:
        """True while legacy items remain or a migration is incomplete (`status --check`)."""
        return bool(self.legacy) or bool(self.incomplete)

    def to_json(self) -> dict[str, Any]:
        return {
            "fs_mode": self.fs_mode,
            "work_left": self.work_left,
            "legacy": self.legacy,
            "conflicts": list(self.conflicts),
            "migrations": [m.to_json() for m in self.migrations],
            "mirror_problems": list(self.mirror_problems),
            "dual_write_errors": self.dual_write_errors,
            "last_dual_write_errors": list(self.last_dual_write_errors),
        }


def _dual_write_errors(project: FilesystemContract) -> list[dict[str, Any]]:
    try:
        text = errors_file(project).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def status(project: FilesystemContract) -> StatusReport:
    """Read-only: what `osiris migrate plan` would still move, migrations, mirrors."""
    pairs = mirror_pairs(project)
    planned = plan_project(project, mirrors=pairs)  # the run index read once
    legacy = {k: v for k, v in planned.summary().items() if k not in _DERIVED}
    problems: list[str] = []
    for pair in pairs:
        problems += divergence(project.base_path, pair)
    errors = _dual_write_errors(project)
    return StatusReport(
        fs_mode=project.config.compat.mode,
        legacy=legacy,
        conflicts=tuple(str(p) for p in planned.conflicts),
        migrations=tuple(list_migrations(project.migrations_dir)),
        mirror_problems=tuple(problems),
        dual_write_errors=len(errors),
        last_dual_write_errors=tuple(errors[-_LAST_ERRORS:]),
    )
