"""The write-ahead journal of a migration: `.osiris/migrations/<id>/journal.jsonl`.

Line 1 is a header (format, migration id, plan fingerprint, created_at, number of steps).
Then, per batch of steps, `begin` lines are written and fsynced before any step of the batch
runs and `done` lines after the batch, each group with one write and one fsync. `applied`
closes a migration; `rollback` (with the steps to undo), `undo-begin`/`undo-done` lines and
`rolled-back` record a rollback the same way. Every prefix of the file is a state `apply`
resumes from and `rollback` restores from; a torn last line is ignored.

`finalize` replaces journal and plan by a small `finalized.json`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.core.fsio import append_jsonl, fsync_dir
from osiris.errors import NotFound, OsirisError, UsageError

FORMAT = 1
JOURNAL = "journal.jsonl"
PLAN = "plan.json"
FINALIZED = "finalized.json"

APPLYING = "incomplete"
APPLIED = "applied"
ROLLING_BACK = "rollback incomplete"
ROLLED_BACK = "rolled back"
FINALIZED_STATE = "finalized"


@dataclass
class JournalState:
    """What a journal says happened, line by line."""

    header: dict[str, Any]
    begun: set[int] = field(default_factory=set)
    done: dict[int, dict[str, Any]] = field(default_factory=dict)  # step -> its details
    applied: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    undo_begun: set[int] = field(default_factory=set)
    undone: dict[int, dict[str, Any]] = field(default_factory=dict)
    rolled_back: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        """incomplete, applied, rollback incomplete or rolled back."""
        if self.rolled_back is not None:
            return ROLLED_BACK
        if self.rollback is not None:
            return ROLLING_BACK
        return APPLIED if self.applied is not None else APPLYING

    @property
    def total(self) -> int:
        return int(self.header["ops"])


class JournalError(OsirisError):
    """A journal that cannot be read (not a torn last line: real damage)."""


def _line(kind: str, **fields: Any) -> dict[str, Any]:
    return {"t": kind, **fields}


class Journal:
    """Appends journal lines durably and reads them back into a `JournalState`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL
        self._tail_checked = False

    @classmethod
    def create(cls, folder: Path, header: Mapping[str, Any]) -> Journal:
        """Start the journal of a new migration folder with its header (fsynced)."""
        journal = cls(folder)
        if journal.path.exists():
            raise JournalError("a journal already exists here", path=journal.path)
        journal.write([_line("header", format=FORMAT, **header)])
        fsync_dir(journal.folder)
        return journal

    def write(self, lines: Iterable[Mapping[str, Any]]) -> None:
        """Append lines with one write and one fsync."""
        if not self._tail_checked:
            self._cut_torn_tail()
            self._tail_checked = True
        append_jsonl(self.path, [dict(line) for line in lines])

    def _cut_torn_tail(self) -> None:
        # A line torn by a crash must not become a damaged line in the middle of the file.
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        if raw and not raw.endswith(b"\n"):
            os.truncate(self.path, raw.rfind(b"\n") + 1)

    def begin(self, steps: Iterable[int], *, undo: bool = False) -> None:
        kind = "undo-begin" if undo else "begin"
        self.write([_line(kind, op=i) for i in steps])

    def done(
        self, finished: Iterable[tuple[int, Mapping[str, Any] | None]], *, undo: bool = False
    ) -> None:
        kind = "undo-done" if undo else "done"
        lines = []
        for i, details in finished:
            lines.append(_line(kind, op=i, **({"details": dict(details)} if details else {})))
        if lines:
            self.write(lines)

    def mark(self, kind: str, **fields: Any) -> None:
        """A state line: `applied`, `rollback` or `rolled-back`."""
        self.write([_line(kind, **fields)])

    def read(self) -> JournalState:
        """The state the journal records; a torn last line (a crash mid-write) is ignored."""
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise JournalError(f"cannot read the journal: {exc.strerror}", path=self.path) from exc
        # Only newline-ended lines count: a torn last line was cut by a crash mid-write,
        # so the batch it announced never started (begin) or is re-checked (done).
        complete = raw.split(b"\n")[:-1]
        parsed = []
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                parsed.append(json.loads(line))
            except ValueError:
                raise JournalError(f"line {number} is damaged", path=self.path) from None
        if not parsed or parsed[0].get("t") != "header" or parsed[0].get("format") != FORMAT:
            raise JournalError(f"no journal header of format {FORMAT}", path=self.path)
        state = JournalState(header=parsed[0])
        for entry in parsed[1:]:
            _fold(state, entry)
        return state


def _fold(state: JournalState, entry: Mapping[str, Any]) -> None:
    kind = entry.get("t")
    if kind == "begin":
        state.begun.add(entry["op"])
    elif kind == "done":
        state.done[entry["op"]] = entry.get("details", {})
    elif kind == "applied":
        state.applied = dict(entry)
    elif kind == "rollback":
        state.rollback = dict(entry)
    elif kind == "undo-begin":
        state.undo_begun.add(entry["op"])
    elif kind == "undo-done":
        state.undone[entry["op"]] = entry.get("details", {})
    elif kind == "rolled-back":
        state.rolled_back = dict(entry)


@dataclass(frozen=True)
class Migration:
    """One folder under `.osiris/migrations/` and the state its files record."""

    migration_id: str
    folder: Path
    state: str
    journal: JournalState | None
    finalized: dict[str, Any] | None

    @property
    def unfinished(self) -> bool:
        """True while an apply or a rollback was cut short."""
        return self.state in (APPLYING, ROLLING_BACK)

    @property
    def header(self) -> dict[str, Any]:
        if self.journal is not None:
            return self.journal.header
        return dict(self.finalized or {})

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"migration_id": self.migration_id, "state": self.state}
        data["created_at"] = self.header.get("created_at")
        if self.journal is not None:
            data["ops"] = self.journal.total
            data["done"] = len(self.journal.done)
            data["undone"] = len(self.journal.undone)
            for key, line in (
                ("applied_at", self.journal.applied),
                ("rolled_back_at", self.journal.rolled_back),
            ):
                if line is not None:
                    data[key] = line.get("at")
        if self.finalized is not None:
            data["finalized_at"] = self.finalized.get("finalized_at")
        return data


def read_migration(folder: Path) -> Migration | None:
    """The migration a folder holds; None for a folder with neither journal nor record."""
    folder = Path(folder)
    record = folder / FINALIZED
    if record.exists():
        try:
            finalized = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JournalError(f"cannot read the record: {exc}", path=record) from None
        return Migration(folder.name, folder, FINALIZED_STATE, None, finalized)
    journal = Journal(folder)
    if not journal.path.exists():
        return None
    state = journal.read()
    return Migration(folder.name, folder, state.state, state, None)


def list_migrations(migrations_dir: Path) -> list[Migration]:
    """Every migration of a project, oldest first (ids start with their UTC time)."""
    try:
        names = sorted(os.listdir(migrations_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        migration = read_migration(Path(migrations_dir) / name)
        if migration is not None:
            found.append(migration)
    return found


def pick(
    migrations: list[Migration], migration_id: str | None, states: tuple[str, ...], action: str
) -> Migration:
    """The migration named, else the newest in one of `states`; NotFound/UsageError otherwise."""
    if migration_id is not None:
        named = next((m for m in migrations if m.migration_id == migration_id), None)
        if named is None:
            known = ", ".join(m.migration_id for m in migrations[-5:]) or "none"
            raise NotFound(
                f"no migration '{migration_id}'", hint=f"known: {known} (osiris migrate status)"
            )
        if named.state not in states:
            raise UsageError(
                f"migration {migration_id} is {named.state}, so there is nothing to {action}",
                hint="osiris migrate status lists migrations and their states",
            )
        return named
    candidates = [m for m in migrations if m.state in states]
    if not candidates:
        raise NotFound(f"no migration to {action}", hint="osiris migrate status lists migrations")
    return candidates[-1]
