"""Retention (contract.md §7): what `osiris maintenance clean` removes, planned before acted on.

Only two kinds of thing are ever removed: a run's folder under `run_logs/` once the run
finished more than `run_logs_days` ago, and the `annex/` folder of an AIOP pack that is
older than `annex_keep_days` or beyond the newest `aiop_keep_runs_per_pipeline` packs of
its pipeline/profile. `build/`, `summary.json`, `run-card.md` and `.osiris/index` are never
touched, nor the newest run of a pipeline/profile that a `latest/<slug>.txt` pointer names.
Symlinks are removed as links and never followed.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from osiris.core.fs_paths import FilesystemContract
from osiris.core.gc_pause import gc_paused
from osiris.core.retention_candidates import ANNEX as ANNEX
from osiris.core.retention_candidates import _answers as _answers
from osiris.core.retention_candidates import _by_path as _by_path
from osiris.core.retention_candidates import _from_folder as _from_folder
from osiris.core.retention_candidates import _from_link as _from_link
from osiris.core.retention_candidates import (
    _inside,
    _packs,
    _protected,
    _Run,
    _run_dirs,
)
from osiris.core.run_folders import scan_folders
from osiris.core.run_index import RunIndexReader, RunRecord, utc_now_iso
from osiris.core.run_order import MIGRATED, migrated_bound
from osiris.core.run_sources import (
    EVENTS,
    STATUS,
    SUMMARY,
    TOMBSTONE,
    display_path,
    is_tombstone,
)

RUN_LOGS = "run_logs"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RetentionPolicy:
    """The limits of contract.md §7. An age limit of None is off and 0 takes every finished
    run; `aiop_keep_runs` 0 keeps all. Migrated runs are kept `migrated_grace_days` after
    the last migration, whatever their age (their ages are real, and often large)."""

    run_logs_days: int | None
    aiop_keep_runs: int
    annex_days: int | None
    migrated_grace_days: int = 0

    @classmethod
    def from_contract(
        cls,
        contract: FilesystemContract,
        *,
        run_logs_days: int | None = None,
        aiop_keep_runs: int | None = None,
        annex_days: int | None = None,
    ) -> RetentionPolicy:
        """The configured policy (`filesystem.retention`, where 0 turns an age rule off),
        each value overridable (where 0 days means every finished run)."""
        configured = contract.config.filesystem.retention
        return cls(
            run_logs_days=_days(run_logs_days, configured.run_logs_days),
            aiop_keep_runs=configured.aiop_keep_runs_per_pipeline
            if aiop_keep_runs is None
            else aiop_keep_runs,
            annex_days=_days(annex_days, configured.annex_keep_days),
            migrated_grace_days=configured.migrated_grace_days,
        )

    def to_dict(self) -> dict[str, int | None]:
        return {
            "run_logs_days": self.run_logs_days,
            "aiop_keep_runs_per_pipeline": self.aiop_keep_runs,
            "annex_keep_days": self.annex_days,
            "migrated_grace_days": self.migrated_grace_days,
        }


def _days(override: int | None, configured: int) -> int | None:
    if override is not None:
        return override
    return configured or None  # contract.md §7: 0 in osiris.yaml disables the rule


@dataclass(frozen=True)
class RemoveAction:
    """One folder (or link) to remove, why, and how many bytes it holds."""

    kind: str  # RUN_LOGS or ANNEX
    path: Path
    run_id: str
    pipeline_slug: str
    profile: str | None
    reason: str
    size: int
    is_link: bool

    def to_dict(self, base_path: Path) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": display_path(self.path, base_path),
            "run_id": self.run_id,
            "pipeline_slug": self.pipeline_slug,
            "profile": self.profile,
            "reason": self.reason,
            "bytes": self.size,
            "is_link": self.is_link,
        }


@dataclass(frozen=True)
class RetentionPlan:
    """Every removal `apply` will make, computed without touching anything."""

    policy: RetentionPolicy
    now: datetime
    base_path: Path
    actions: tuple[RemoveAction, ...]
    protected: tuple[str, ...]  # run ids kept because a latest pointer names their pipeline
    migrated_kept: tuple[str, ...] = ()  # migrated run ids kept until `grace_until`
    grace_until: datetime | None = None

    @property
    def total_bytes(self) -> int:
        return sum(a.size for a in self.actions)

    def apply(
        self, *, trash: bool = False, progress: Progress | None = None
    ) -> tuple[list[RemoveAction], list[str]]:
        """Remove each action's path; a path already gone counts as done, failures are listed."""
        removed: list[RemoveAction] = []
        errors: list[str] = []
        for done, action in enumerate(self.actions, start=1):
            try:
                _remove(action.path, trash=trash)
                removed.append(action)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                errors.append(f"{display_path(action.path, self.base_path)}: {reason}")
            if progress is not None:
                progress(done, len(self.actions))
        return removed, errors


@dataclass(frozen=True)
class CleanReport:
    """What `clean` planned and, unless it was a dry run, what it removed."""

    plan: RetentionPlan
    dry_run: bool
    trash: bool
    removed: tuple[RemoveAction, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bytes_freed(self) -> int:
        return sum(a.size for a in self.removed)

    def to_dict(self) -> dict[str, Any]:
        base = self.plan.base_path
        return {
            "dry_run": self.dry_run,
            "trash": self.trash,
            "policy": self.plan.policy.to_dict(),
            "actions": [a.to_dict(base) for a in self.plan.actions],
            "bytes": self.plan.total_bytes,
            "removed": len(self.removed),
            "bytes_freed": self.bytes_freed,
            "protected": list(self.plan.protected),
            "migrated_kept": len(self.plan.migrated_kept),
            "migrated_kept_until": utc_now_iso(self.plan.grace_until)
            if self.plan.grace_until
            else None,
            "errors": list(self.errors),
        }


def clean(
    contract: FilesystemContract,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    trash: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> CleanReport:
    """Plan retention and, unless `dry_run`, apply the plan."""
    plan = plan_retention(contract, policy, now=now)
    if dry_run:
        return CleanReport(plan=plan, dry_run=True, trash=trash)
    removed, errors = plan.apply(trash=trash, progress=progress)
    return CleanReport(plan, False, trash, tuple(removed), tuple(errors))


# -- planning -----------------------------------------------------------------------------


@gc_paused
def plan_retention(
    contract: FilesystemContract, policy: RetentionPolicy, *, now: datetime | None = None
) -> RetentionPlan:
    """Compute the removals the policy asks for at `now` (default: the current time)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    roots = (contract.run_logs_dir, contract.aiop_dir, contract.build_dir)
    reader = RunIndexReader(contract.index_dir, contract.base_path, roots=roots)
    records = reader.query()
    logs_found = scan_folders(contract.run_logs_dir, (EVENTS, STATUS))
    packs_found = scan_folders(contract.aiop_dir, (SUMMARY,), inner=(f".{ANNEX}{TOMBSTONE}",))
    run_dirs = list(_run_dirs(contract, reader, records, logs_found.folders))
    packs = list(_packs(reader, records, packs_found.folders))
    protected = _protected(contract, records, run_dirs + packs)
    grace_until = _grace_until(contract, policy, records)
    in_grace = {}
    if grace_until is not None and now < grace_until:
        in_grace = {r.run_id.lower(): r.run_id for r in records if r.source == MIGRATED}
    kept = {**protected, **in_grace}
    actions: list[RemoveAction] = []
    if policy.run_logs_days is not None:
        limit = now - timedelta(days=policy.run_logs_days)
        for run in run_dirs:
            # 0 days takes every finished run, never one that may still be running.
            unsure = policy.run_logs_days == 0 and not run.finish_known
            if run.finished < limit and run.run_id.lower() not in kept and not unsure:
                reason = f"finished {_age(now, run.finished)} ago (> {policy.run_logs_days} days)"
                actions.append(_action(RUN_LOGS, run.path, run, reason))
    actions.extend(_annex_actions(packs, policy, now, kept))
    actions.extend(_tombstone_actions(logs_found.tombstones, RUN_LOGS))
    actions.extend(_tombstone_actions(packs_found.tombstones, ANNEX))
    _check_inside(contract, actions)
    return RetentionPlan(
        policy=policy,
        now=now,
        base_path=contract.base_path,
        actions=tuple(sorted(actions, key=lambda a: (a.kind != RUN_LOGS, str(a.path)))),
        protected=tuple(sorted(protected.values())),
        migrated_kept=tuple(sorted(in_grace.values())),
        grace_until=grace_until if in_grace else None,
    )


def _grace_until(
    contract: FilesystemContract, policy: RetentionPolicy, records: list[RunRecord]
) -> datetime | None:
    """Until when migrated runs are kept: the last migration, plus the grace days."""
    if not policy.migrated_grace_days or not any(r.source == MIGRATED for r in records):
        return None
    migrated = migrated_bound(contract.base_path)
    return None if migrated is None else migrated + timedelta(days=policy.migrated_grace_days)


def _annex_actions(
    packs: list[_Run], policy: RetentionPolicy, now: datetime, protected: dict[str, str]
) -> Iterator[RemoveAction]:
    beyond: set[Path] = set()
    if policy.aiop_keep_runs:
        groups: dict[tuple[str, str | None], list[_Run]] = {}
        for pack in packs:
            groups.setdefault((pack.pipeline_slug, pack.profile), []).append(pack)
        for group in groups.values():
            group.sort(key=lambda p: (p.started or p.finished, p.run_id.lower()), reverse=True)
            beyond.update(p.path for p in group[policy.aiop_keep_runs :])
    limit = now - timedelta(days=policy.annex_days) if policy.annex_days is not None else None
    for pack in packs:
        annex = pack.path / ANNEX
        if pack.run_id.lower() in protected or not os.path.lexists(annex):
            continue
        reasons = []
        if limit is not None and pack.finished < limit:
            reasons.append(f"finished {_age(now, pack.finished)} ago (> {policy.annex_days} days)")
        if pack.path in beyond:
            shown = pack.pipeline_slug + (f"/{pack.profile}" if pack.profile else "")
            reasons.append(f"beyond the newest {policy.aiop_keep_runs} runs of {shown}")
        if reasons:
            yield _action(ANNEX, annex, pack, "; ".join(reasons))


def _action(kind: str, path: Path, run: _Run, reason: str) -> RemoveAction:
    is_link = os.path.islink(path)
    return RemoveAction(
        kind=kind,
        path=path,
        run_id=run.run_id,
        pipeline_slug=run.pipeline_slug,
        profile=run.profile,
        reason=reason,
        size=_tree_bytes(path),
        is_link=is_link,
    )


def _check_inside(contract: FilesystemContract, actions: list[RemoveAction]) -> None:
    # Belt and braces: whatever the index says, nothing outside these roots is removed.
    keep_out = (contract.build_dir, contract.index_dir)
    for action in actions:
        root = contract.run_logs_dir if action.kind == RUN_LOGS else contract.aiop_dir
        if not _inside(action.path, root) or any(
            _inside(action.path, p) or action.path == p for p in keep_out
        ):
            raise AssertionError(f"retention planned to remove {action.path} outside {root}")


# -- sizes and removal --------------------------------------------------------------------


def _tree_bytes(path: Path) -> int:
    """Bytes under `path`, counting links as links (never followed)."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size
    total = 0
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def _remove(path: Path, *, trash: bool) -> None:
    if not os.path.lexists(path):
        return  # removed since the plan was made: nothing left to do
    if os.path.islink(path) or not os.path.isdir(path):
        # A link holds no data: it is unlinked even with --trash, and its target survives.
        os.unlink(path)
    elif trash:
        from send2trash import send2trash

        send2trash(os.fspath(path))
    else:
        # Renamed first, in one step: a clean killed while removing leaves a tombstone that
        # no reader lists and the next clean finishes, never a half-removed run folder.
        tomb = path if is_tombstone(path.name) else path.with_name(f".{path.name}{TOMBSTONE}")
        if tomb != path:
            if os.path.lexists(tomb):
                shutil.rmtree(tomb)
            os.rename(path, tomb)
        # rmtree removes links inside the tree as links; it never follows them.
        shutil.rmtree(tomb)


def _tombstone_actions(tombstones: list[Path], kind: str) -> Iterator[RemoveAction]:
    """Folders an interrupted clean renamed and did not finish removing (found by
    `scan_folders` beside a run folder, or, an annex, directly in a pack)."""
    for path in tombstones:
        yield RemoveAction(
            kind=kind,
            path=path,
            run_id=path.name[1 : -len(TOMBSTONE)],
            pipeline_slug="",
            profile=None,
            reason="left half-removed by an interrupted clean",
            size=_tree_bytes(path),
            is_link=False,
        )


def _age(now: datetime, moment: datetime) -> str:
    days = (now - moment).total_seconds() / 86400
    return f"{days:.1f} days"


def outlook(contract: FilesystemContract, *, now: datetime | None = None) -> dict[str, Any]:
    """What `osiris maintenance clean` would do now with the configured policy (for
    `osiris migrate apply`, whose migrated runs often are older than the limits)."""
    plan = plan_retention(contract, RetentionPolicy.from_contract(contract), now=now)
    return {
        "run_logs": sum(1 for a in plan.actions if a.kind == RUN_LOGS),
        "annexes": sum(1 for a in plan.actions if a.kind == ANNEX),
        "bytes": plan.total_bytes,
        "migrated_kept": len(plan.migrated_kept),
        "migrated_kept_until": utc_now_iso(plan.grace_until) if plan.grace_until else None,
        "grace_days": plan.policy.migrated_grace_days,
    }


def describe_outlook(found: dict[str, Any]) -> str:
    """The outlook in one sentence."""
    removes = (
        f"would remove {found['run_logs']} run-log folder(s) and {found['annexes']} annex(es)"
        if found["run_logs"] or found["annexes"]
        else "would remove nothing"
    )
    kept = ""
    if found["migrated_kept"]:
        until = found["migrated_kept_until"][:10]
        kept = (
            f"; the {found['migrated_kept']} migrated run(s) are kept until {until} "
            f"(filesystem.retention.migrated_grace_days: {found['grace_days']})"
        )
    elif found["grace_days"] == 0:
        kept = "; migrated runs get no grace period (filesystem.retention.migrated_grace_days: 0)"
    return f"Retention: `osiris maintenance clean` {removes} now{kept}."
