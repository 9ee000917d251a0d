"""The write-ahead journal of a migration: `.osiris/migrations/<id>/journal.jsonl`.

Line 1 is a header (format, migration id, plan fingerprint, created_at, number of steps).
Then, per batch of steps, one `begin` line naming the batch's steps is written and fsynced
before any step of the batch runs, and one `done` line (the steps, and the details of those
that have any) after the batch. `applied` closes a migration; `rollback` (with the steps to
undo), `undo-begin`/`undo-done` lines and `rolled-back` record a rollback the same way.
Every prefix of the file is a state `apply` resumes from and `rollback` restores from; a
torn last line is ignored. The last complete line alone tells the state, so listing
migrations reads only each journal's last line.

`finalize` replaces journal and plan by a small `finalized.json`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from osiris.core.fsio import append_jsonl, fsync_dir
from osiris.errors import NotFound, OsirisError, UsageError

FORMAT = 2
JOURNAL = "journal.jsonl"
PLAN = "plan.json"
FINALIZED = "finalized.json"

APPLYING = "incomplete"
APPLIED = "applied"
ROLLING_BACK = "rollback incomplete"
ROLLED_BACK = "rolled back"
FINALIZED_STATE = "finalized"
# The ways out of an interrupted migration (and rollback), as every message names them.
BOTH_WAYS = "run `osiris migrate apply` to resume it, or `osiris migrate rollback` to undo it"
FINISH_ROLLBACK = "run `osiris migrate rollback` to finish it"


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
        """Announce a batch of steps (one line, one fsync) before any of them runs."""
        self.write([_line("undo-begin" if undo else "begin", ops=list(steps))])

    def done(
        self, finished: Iterable[tuple[int, Mapping[str, Any] | None]], *, undo: bool = False
    ) -> None:
        """Record a finished batch: its steps, and what the journal keeps of those with details."""
        ops, details = [], {}
        for i, kept in finished:
            ops.append(i)
            if kept:
                details[str(i)] = dict(kept)
        if ops:
            line = _line("undo-done" if undo else "done", ops=ops)
            if details:
                line["details"] = details
            self.write([line])

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


def _finished(entry: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    details = entry.get("details", {})
    return {i: details.get(str(i), {}) for i in entry["ops"]}


def _fold(state: JournalState, entry: Mapping[str, Any]) -> None:
    kind = entry.get("t")
    if kind == "begin":
        state.begun.update(entry["ops"])
    elif kind == "done":
        state.done.update(_finished(entry))
    elif kind == "applied":
        state.applied = dict(entry)
    elif kind == "rollback":
        state.rollback = dict(entry)
    elif kind == "undo-begin":
        state.undo_begun.update(entry["ops"])
    elif kind == "undo-done":
        state.undone.update(_finished(entry))
    elif kind == "rolled-back":
        state.rolled_back = dict(entry)


# The state each kind of line leaves a journal in when it is the last complete line.
_STATE_AFTER = {
    "header": APPLYING,
    "begin": APPLYING,
    "done": APPLYING,
    "applied": APPLIED,
    "rollback": ROLLING_BACK,
    "undo-begin": ROLLING_BACK,
    "undo-done": ROLLING_BACK,
    "rolled-back": ROLLED_BACK,
}
_TAIL_BLOCK = 64 * 1024


def _last_line(path: Path) -> bytes:
    """The journal's last complete line (a torn last line does not count)."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        tail = b""
        while True:
            start = max(0, end - _TAIL_BLOCK)
            handle.seek(start)
            tail = handle.read(end - start) + tail
            complete = tail[: tail.rfind(b"\n") + 1] if b"\n" in tail else b""
            lines = complete.splitlines()
            if len(lines) > 1 or start == 0:
                return lines[-1] if lines else b""
            end = start


@dataclass(frozen=True)
class Migration:
    """One folder under `.osiris/migrations/` and the state its files record.

    `state` comes from the journal's last line; `journal` reads the whole journal, once, when
    asked (a long journal costs far more than its state).
    """

    migration_id: str
    folder: Path
    state: str
    finalized: dict[str, Any] | None

    @cached_property
    def journal(self) -> JournalState | None:
        """Everything the journal records (None once finalized)."""
        if self.finalized is not None:
            return None
        return Journal(self.folder).read()

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
        return Migration(folder.name, folder, FINALIZED_STATE, finalized)
    journal = Journal(folder)
    try:
        last = _last_line(journal.path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalError(f"cannot read the journal: {exc.strerror}", path=journal.path) from exc
    try:
        kind = json.loads(last).get("t") if last else None
    except (ValueError, AttributeError):
        kind = None
    if kind not in _STATE_AFTER:
        return Migration(folder.name, folder, journal.read().state, None)
    return Migration(folder.name, folder, _STATE_AFTER[kind], None)


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


def interrupted(migrations_dir: Path) -> Migration | None:
    """The migration whose apply or rollback was cut short, if any."""
    return next((m for m in list_migrations(migrations_dir) if m.unfinished), None)


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
