from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osiris.compat.migration_journal import (
    APPLIED,
    APPLYING,
    FINALIZED,
    ROLLED_BACK,
    ROLLING_BACK,
    Journal,
    JournalError,
    list_migrations,
    pick,
)
from osiris.errors import NotFound, UsageError

HEADER = {"migration_id": "20251007T120000Z-aaaa", "fingerprint": "f" * 64, "ops": 4}


@pytest.fixture
def folder(fs: Any) -> Path:
    path = Path("/proj/.osiris/migrations/20251007T120000Z-aaaa")
    path.mkdir(parents=True)
    return path


def lines(journal: Journal) -> list[dict[str, Any]]:
    return [json.loads(line) for line in journal.path.read_text().splitlines()]


def test_a_journal_records_batches_and_states(folder: Path) -> None:
    journal = Journal.create(folder, HEADER)
    journal.begin([0, 1])
    journal.done([(0, None), (1, {"sha256": {"a": "b"}})])
    state = journal.read()
    assert state.state == APPLYING
    assert (state.begun, state.done, state.total) == ({0, 1}, {0: {}, 1: {"sha256": {"a": "b"}}}, 4)
    journal.mark("applied", at="2025-10-07T12:00:01.000Z")
    assert journal.read().state == APPLIED
    journal.mark("rollback", at="…", force=False, ops=[1, 0])
    journal.begin([1], undo=True)
    journal.done([(1, None)], undo=True)
    state = journal.read()
    assert state.state == ROLLING_BACK and state.undo_begun == {1} and set(state.undone) == {1}
    journal.mark("rolled-back", at="…")
    assert journal.read().state == ROLLED_BACK
    assert [line["t"] for line in lines(journal)] == [
        "header",
        "begin",
        "done",
        "applied",
        "rollback",
        "undo-begin",
        "undo-done",
        "rolled-back",
    ]


def test_a_torn_last_line_never_counted_and_is_cut_before_the_next_write(folder: Path) -> None:
    journal = Journal.create(folder, HEADER)
    journal.begin([0])
    with open(journal.path, "a") as handle:
        handle.write('{"t":"done","o')  # the kill came mid-write
    assert journal.read().done == {}
    resumed = Journal(folder)
    resumed.done([(0, None)])
    assert [line["t"] for line in lines(resumed)] == ["header", "begin", "done"]


def test_a_damaged_line_in_the_middle_is_an_error(folder: Path) -> None:
    journal = Journal.create(folder, HEADER)
    with open(journal.path, "a") as handle:
        handle.write("not json\n")
    journal.begin([0])
    with pytest.raises(JournalError, match="line 2 is damaged"):
        journal.read()


def test_a_journal_without_its_header_is_an_error(folder: Path) -> None:
    (folder / "journal.jsonl").write_text('{"t":"begin","op":0}\n')
    with pytest.raises(JournalError, match="no journal header of format 2"):
        Journal(folder).read()
    with pytest.raises(JournalError, match="already exists"):
        Journal.create(folder, HEADER)


def test_migrations_are_listed_oldest_first_with_their_state(folder: Path) -> None:
    base = folder.parent
    Journal.create(folder, HEADER).mark("applied", at="x")
    newer = base / "20251008T120000Z-bbbb"
    newer.mkdir()
    Journal.create(newer, {**HEADER, "migration_id": newer.name})
    done = base / "20251001T120000Z-cccc"
    done.mkdir()
    (done / FINALIZED).write_text(json.dumps({"migration_id": done.name, "finalized_at": "y"}))
    (base / "20251009T000000Z-empty").mkdir()  # neither journal nor record: not a migration
    found = list_migrations(base)
    assert [(m.migration_id, m.state) for m in found] == [
        ("20251001T120000Z-cccc", "finalized"),
        ("20251007T120000Z-aaaa", "applied"),
        ("20251008T120000Z-bbbb", "incomplete"),
    ]
    assert [m.unfinished for m in found] == [False, False, True]
    assert found[0].to_json() == {
        "migration_id": "20251001T120000Z-cccc",
        "state": "finalized",
        "created_at": None,
        "finalized_at": "y",
    }
    assert list_migrations(base / "missing") == []


def test_a_listed_state_comes_from_the_last_complete_line(folder: Path) -> None:
    journal = Journal.create(folder, HEADER)
    journal.begin(range(4))
    # A done line longer than the block the tail is read in, then a torn line.
    journal.done([(i, {"sha256": {f"f{n}": "0" * 64 for n in range(800)}}) for i in range(4)])
    with open(journal.path, "a") as handle:
        handle.write('{"t":"applied","a')
    (listed,) = list_migrations(folder.parent)
    assert listed.state == APPLYING and journal.path.stat().st_size > 128 * 1024
    assert listed.journal is not None and set(listed.journal.done) == {0, 1, 2, 3}
    Journal(folder).mark("applied", at="x")
    (listed,) = list_migrations(folder.parent)
    assert listed.state == APPLIED
    assert listed.journal is not None and listed.journal.applied == {"t": "applied", "at": "x"}


def test_a_journal_whose_last_line_is_damaged_is_an_error_when_listed(folder: Path) -> None:
    journal = Journal.create(folder, HEADER)
    with open(journal.path, "a") as handle:
        handle.write("not json\n")
    with pytest.raises(JournalError, match="line 2 is damaged"):
        list_migrations(folder.parent)


def test_pick_takes_the_named_or_the_newest_in_a_state(folder: Path) -> None:
    Journal.create(folder, HEADER).mark("applied", at="x")
    found = list_migrations(folder.parent)
    assert pick(found, None, (APPLIED,), "verify").migration_id == folder.name
    assert pick(found, folder.name, (APPLIED,), "verify").migration_id == folder.name
    with pytest.raises(NotFound, match="no migration 'nope'"):
        pick(found, "nope", (APPLIED,), "verify")
    with pytest.raises(UsageError, match="is applied, so there is nothing to finalize"):
        pick(found, folder.name, (APPLYING,), "finalize")
    with pytest.raises(NotFound, match="no migration to roll back"):
        pick(found, None, (ROLLED_BACK,), "roll back")
