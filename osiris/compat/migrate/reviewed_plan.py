"""The plan a user saves and reviews (`osiris migrate plan --out`): what moves where, what
blocks it, and the fingerprint of the steps.

The steps themselves are not saved: `apply --plan FILE` plans again and applies only when
the new plan's fingerprint is the one reviewed, so a reviewed plan is applied exactly or not
at all (compat.md §4). Each item keeps a short digest of the steps that move it, which names
what changed when a plan has gone stale. A migration keeps its full plan, steps included, in
its own folder (saved_plan.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat.migrate.ops import Op, Problem
from osiris.compat.migrate.saved_plan import (
    FORMAT,
    Plan,
    PlannedItem,
    items_by_kind,
    problem_json,
    step_digests,
)
from osiris.core.fsio import atomic_write_text
from osiris.core.run_index import utc_now_iso
from osiris.errors import UsageError

REVIEWED_FORMAT = "reviewed-1"
_DIGEST_CHARS = 16  # of an item's step digest: enough to tell a change, short in the file
_MAX_CHANGES = 10
_AGAIN = "make a new one with `osiris migrate plan --out FILE`"


@dataclass(frozen=True)
class ReviewedPlan:
    """A plan as a user reviews it: its items (each with the digest of its steps), conflicts,
    what stays, and the fingerprint `apply` holds the project to."""

    fingerprint: str
    steps: int
    items: tuple[PlannedItem, ...]
    digests: tuple[str, ...]  # per item: the digest of the steps that move it ("" if none)
    conflicts: tuple[Problem, ...]
    left_in_place: tuple[PlannedItem, ...]
    warnings: tuple[str, ...]
    profiles: str = ""
    created_at: str = field(default_factory=utc_now_iso, compare=False)

    @classmethod
    def of(cls, plan: Plan) -> ReviewedPlan:
        """What a user reviews of `plan`."""
        return cls(
            fingerprint=plan.fingerprint,
            steps=len(plan.ops),
            items=plan.items,
            digests=_item_digests(plan),
            conflicts=plan.conflicts,
            left_in_place=plan.left_in_place,
            warnings=plan.warnings,
            profiles=plan.profiles,
            created_at=plan.created_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REVIEWED_FORMAT,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at,
            "steps": self.steps,
            "summary": items_by_kind(self.items),
            "conflicts": [problem_json(p) for p in self.conflicts],
            "left_in_place": [i.to_json() for i in self.left_in_place],
            "items": [_item_json(i, d) for i, d in zip(self.items, self.digests, strict=True)],
            "warnings": list(self.warnings),
            "profiles": self.profiles,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReviewedPlan:
        """A saved reviewed plan; any other file is a UsageError."""
        if not isinstance(data, Mapping) or data.get("format") != REVIEWED_FORMAT:
            full = isinstance(data, Mapping) and data.get("format") == FORMAT
            raise UsageError(
                "not a plan saved by `osiris migrate plan --out` of this version"
                if full
                else f"not a migration plan of format {REVIEWED_FORMAT}"
            )
        try:
            items = tuple(PlannedItem.from_json(i) for i in data["items"])
            return cls(
                fingerprint=data["fingerprint"],
                steps=int(data["steps"]),
                items=items,
                digests=tuple(str(i.get("digest", "")) for i in data["items"]),
                conflicts=tuple(
                    Problem(PurePosixPath(p["path"]), p["message"]) for p in data["conflicts"]
                ),
                left_in_place=tuple(PlannedItem.from_json(i) for i in data["left_in_place"]),
                warnings=tuple(data["warnings"]),
                profiles=data["profiles"],
                created_at=data["created_at"],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"a damaged migration plan ({type(exc).__name__}: {exc})") from None

    def save(self, path: Path) -> None:
        """Write the plan atomically as JSON (ASCII escapes keep names that are not UTF-8),
        over nothing but a plan saved before (`check_destination`)."""
        check_destination(path)
        atomic_write_text(path, json.dumps(self.to_json()) + "\n")

    @classmethod
    def load(cls, path: Path) -> ReviewedPlan:
        """Read a plan saved by `osiris migrate plan --out`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the plan: {exc}", path=path) from None
        try:
            return cls.from_json(data)
        except UsageError as exc:
            raise UsageError(exc.message, path=path, hint=_AGAIN) from None


def check_destination(path: Path) -> None:
    """Refuse to save a plan into a folder that does not exist (a mistyped path would
    otherwise be made) or over anything but a plan saved before: the file a user names may
    be theirs, or a migration's own plan."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(
            "no such folder to save the plan in",
            path=path.parent,
            hint="create it first, or name another file",
        )
    if path.is_symlink() or (path.exists() and not _saved_plan(path)):
        raise UsageError(
            "exists and is not a plan saved by `osiris migrate plan --out`; never overwritten",
            path=path,
            hint="name another file, or move this one away first",
        )


# How a saved plan starts: `to_json` puts its format first, and `save` never indents.
_SAVED_START = json.dumps({"format": REVIEWED_FORMAT})[:-1].encode()


def _saved_plan(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SAVED_START)) == _SAVED_START
    except OSError:
        return False


def _item_json(item: PlannedItem, digest: str) -> dict[str, Any]:
    data = item.to_json()
    if digest:
        data["digest"] = digest
    return data


def _item_digests(plan: Plan) -> tuple[str, ...]:
    """Per item, the digest of the steps that touch its source or its destination."""
    by_path: dict[str, list[str]] = {}
    for op, digest in zip(plan.ops, step_digests(plan), strict=True):
        for path in _paths_of(op):
            by_path.setdefault(path, []).append(digest)
    found = []
    for item in plan.items:
        digests = by_path.get(item.src, []) + by_path.get(item.dst or "", [])
        joined = "".join(digests).encode()
        found.append(hashlib.sha256(joined).hexdigest()[:_DIGEST_CHARS] if joined else "")
    return tuple(found)


def _paths_of(op: Op) -> list[str]:
    """The paths an item of the plan is known by in this step: what it moves or writes."""
    for name in ("src", "path"):
        found = getattr(op, name, None)
        if found is not None:
            return [str(found)]
    return [str(f.path) for f in getattr(op, "files", ())]


# -- what changed between the reviewed plan and a new one -----------------------------------


def describe_changes(reviewed: ReviewedPlan, current: ReviewedPlan) -> list[str]:
    """What differs between a reviewed plan and a new plan of the same project, at most ten
    lines (empty when only the fingerprint tells)."""
    old = {(i.kind, i.src): (i, d) for i, d in zip(reviewed.items, reviewed.digests, strict=True)}
    new = {(i.kind, i.src): (i, d) for i, d in zip(current.items, current.digests, strict=True)}
    lines = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None:
            lines.append(f"new since the plan: {_describe(after[0])}")  # type: ignore[index]
        elif after is None:
            lines.append(f"gone since the plan: {_describe(before[0])}")
        elif before[0].dst != after[0].dst:
            lines.append(f"{before[0].src}: now goes to {after[0].dst} (was {before[0].dst})")
        elif before[1] != after[1]:
            lines.append(f"{before[0].src or before[0].dst}: changed since the plan")
    saved_conflicts = {str(p) for p in reviewed.conflicts}
    lines += [f"new conflict: {p}" for p in current.conflicts if str(p) not in saved_conflicts]
    saved_left = {i.src for i in reviewed.left_in_place}
    lines += [
        f"new, left in place: {i.src}" for i in current.left_in_place if i.src not in saved_left
    ]
    if len(lines) > _MAX_CHANGES:
        lines = [*lines[:_MAX_CHANGES], f"and {len(lines) - _MAX_CHANGES} more"]
    return lines


def _describe(item: PlannedItem) -> str:
    where = f"{item.src} -> {item.dst}" if item.dst else item.src
    return f"{item.kind} {where}".strip()
