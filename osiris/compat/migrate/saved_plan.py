"""A migration plan as data: its steps, conflicts and fingerprint, kept as `plan.json` in
the migration's folder (what a user saves to review is reviewed_plan.py).

Apart from the planner (planner.py), so that `rollback`, `verify` and a resumed `apply` load a
saved plan without importing the legacy reader.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from osiris.compat.migrate.ops import Op, Problem, op_from_json
from osiris.compat.migrate.seen import Seen
from osiris.core.fsio import atomic_write_text, canonical_json, name_bytes
from osiris.core.gc_pause import gc_paused
from osiris.core.run_index import utc_now_iso
from osiris.errors import UsageError

FORMAT = 3

MIRROR_NOTE = "mirror of contract run"


class PlannedItem(NamedTuple):
    """One legacy item and where it goes (`dst` None: it stays), with why when not obvious
    (a named tuple: a plan loads one per moved item)."""

    kind: (
        str  # run | build | aiop | chat_sessions | cache | pointer | index | archive | user_output
    )
    src: str
    dst: str | None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "src": self.src, "dst": self.dst, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedItem:
        # A plan of an earlier version also holds each item's size: not read.
        return cls(data["kind"], data["src"], data["dst"], data["note"])


def items_by_kind(items: Iterable[PlannedItem]) -> dict[str, dict[str, int]]:
    """How many items of each kind (a plan's summary)."""
    found: dict[str, dict[str, int]] = {}
    for item in items:
        found.setdefault(item.kind, {"items": 0})["items"] += 1
    return found


def problem_json(problem: Problem) -> dict[str, str]:
    return {"path": str(problem.path), "message": problem.message}


@dataclass(frozen=True)
class Plan:
    """The steps `apply` runs, the items they move, and what blocks them."""

    ops: tuple[Op, ...]
    items: tuple[PlannedItem, ...]
    conflicts: tuple[Problem, ...]
    left_in_place: tuple[PlannedItem, ...]
    warnings: tuple[str, ...]
    fingerprint: str
    seen: Seen
    profiles: str = ""  # how legacy profile labels map (ProfileMap.describe)
    created_at: str = field(default_factory=utc_now_iso, compare=False)
    text: str | None = field(default=None, compare=False, repr=False)  # as read by `load`
    # Each step as saved (`step_json`) and its digest, as the planner worked them out for
    # the fingerprint (empty for a loaded plan: worked out again when asked for).
    step_texts: tuple[str, ...] = field(default=(), compare=False, repr=False)
    digests: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to migrate."""
        return not self.ops and not self.conflicts

    def summary(self) -> dict[str, dict[str, int]]:
        """Items by kind. (No sizes: a plan never walks a folder it moves whole.)"""
        return items_by_kind(self.items)

    def to_json(self) -> dict[str, Any]:
        """The plan as kept in the migration folder."""
        return {
            **self._head(),
            "ops": [op.to_json() for op in self.ops],
            "seen": self.seen.to_json(),
        }

    def _head(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at,
            "summary": self.summary(),
            "conflicts": [problem_json(p) for p in self.conflicts],
            "left_in_place": [i.to_json() for i in self.left_in_place],
            "items": [i.to_json() for i in self.items],
            "warnings": list(self.warnings),
            "profiles": self.profiles,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Read a saved plan; a plan of another format or a damaged one is a UsageError."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise UsageError(f"not a migration plan of format {FORMAT}")
        try:
            return cls(
                ops=tuple(op_from_json(op) for op in data["ops"]),
                items=tuple(PlannedItem.from_json(i) for i in data["items"]),
                conflicts=tuple(
                    Problem(PurePosixPath(p["path"]), p["message"]) for p in data["conflicts"]
                ),
                left_in_place=tuple(PlannedItem.from_json(i) for i in data["left_in_place"]),
                warnings=tuple(data["warnings"]),
                fingerprint=data["fingerprint"],
                seen=Seen.from_json(data["seen"]),
                profiles=data.get("profiles", ""),
                created_at=data["created_at"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"a damaged migration plan ({type(exc).__name__}: {exc})") from None

    def save(self, path: Path) -> None:
        """Write the plan atomically as JSON (a loaded plan: the text it was read from)."""
        # ASCII escapes keep names that are not UTF-8 exact (os.fsdecode's surrogates). The
        # steps are written as the planner wrote them out for the fingerprint: once.
        if self.text is None:
            head = json.dumps(self._head())
            steps = ",".join(step_texts(self))
            seen = json.dumps(self.seen.to_json())
            atomic_write_text(path, f'{head[:-1]}, "ops": [{steps}], "seen": {seen}}}\n')
        else:
            atomic_write_text(path, self.text)

    @classmethod
    @gc_paused
    def load(cls, path: Path) -> Plan:
        """Read a plan saved by `save` (or `osiris migrate plan --out`)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the plan: {exc}", path=path) from None
        try:
            return replace(cls.from_json(data), text=text)
        except UsageError as exc:
            raise UsageError(
                exc.message, path=path, hint="make a new one with `osiris migrate plan --out FILE`"
            ) from None


_STEP_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def step_json(op: Op) -> str:
    """One step as a plan saves it: canonical JSON (sorted keys, compact) in ASCII."""
    return _STEP_JSON.encode(op.to_json())


def step_texts(plan: Plan) -> tuple[str, ...]:
    """Each step as saved (kept by the planner; written out for a loaded plan)."""
    return plan.step_texts or tuple(step_json(op) for op in plan.ops)


def step_digest(text: str) -> str:
    """The sha256 of one step as saved (`step_json`), inventory and data included."""
    return hashlib.sha256(text.encode()).hexdigest()


def step_digests(plan: Plan) -> tuple[str, ...]:
    """Each step's digest (kept by the planner; worked out for a loaded plan)."""
    return plan.digests or tuple(step_digest(text) for text in step_texts(plan))


def fingerprint(
    digests: Iterable[str], conflicts: Iterable[Problem], left_in_place: Iterable[PlannedItem]
) -> str:
    """The digest of what a plan saw: its steps (by their digests), conflicts, what stays."""
    body = {
        "steps": list(digests),
        "conflicts": [problem_json(p) for p in conflicts],
        "left_in_place": [i.to_json() for i in left_in_place],
    }
    return hashlib.sha256(name_bytes(canonical_json(body))).hexdigest()
