"""`osiris migrate finalize`: a migration's reversibility ended, its emptied legacy folders
removed and, on request, `.osiris/legacy/` sent to the OS trash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from send2trash import send2trash

from osiris.compat import legacy_layout as layout
from osiris.compat.migrate import inventory
from osiris.compat.migrate.execution import listed, refuse_if_unfinished
from osiris.compat.migrate.ops import LEGACY_ARCHIVE
from osiris.compat.migrate.receipt import RECEIPT
from osiris.compat.migrate.saved_plan import MIRROR_NOTE, Plan
from osiris.compat.migration_journal import (
    APPLIED,
    FINALIZED,
    FINALIZED_STATE,
    JOURNAL,
    PLAN,
    list_migrations,
    pick,
)
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import atomic_write_text, fsync_dir, pretty_json
from osiris.core.lock import project_lock
from osiris.core.run_index import utc_now_iso
from osiris.errors import UsageError

# legacy-layout.md §1: the folders finalize removes once the migration emptied them.
LEGACY_FOLDERS = (
    layout.LOGS_DIR,
    layout.COMPILED_DIR,
    layout.CHAT_SESSIONS_DIR,
    layout.CACHE_DIR,
    layout.PROMPTS_DIR,
    layout.AIOP_ANNEX_DIR,
)


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
                f"migrated: {listed(kept_runs)}",
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
