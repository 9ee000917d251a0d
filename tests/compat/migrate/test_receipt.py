"""The receipt: `apply` records the state it left; a rollback of an untouched migration
undoes from it alone, and anything else is decided by the full plan."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from osiris.compat.migrate import apply, finalize, inventory, rollback
from osiris.compat.migrate.ops import MoveFile, MoveTree
from osiris.compat.migrate.planner import Plan
from osiris.compat.migrate.receipt import RECEIPT, MoveBack, Receipt, read_receipt
from osiris.core.fs_paths import FilesystemContract
from osiris.errors import RollbackRefused
from tests.helpers.legacy import make_legacy_project
from tests.helpers.migration import contract, project_state
from tests.helpers.tree import assert_same_tree

QUIRKS = {"aiop_folders", "aiop_session_names", "unknown_items", "failed_run"}


@pytest.fixture
def project(tmp_path: Path) -> FilesystemContract:
    """On a real disk: the receipt relies on folder mtimes, which pyfakefs does not update."""
    root = tmp_path / "proj"
    make_legacy_project(root, sessions=3, quirks=QUIRKS)
    return contract(root)


def _folder(project: FilesystemContract, migration_id: str | None) -> Path:
    return project.migrations_dir / str(migration_id)


def _hide_plan(folder: Path, tmp_path: Path) -> None:
    """Move the plan out of reach: whatever still works did not need it."""
    os.rename(folder / "plan.json", tmp_path / "hidden-plan.json")


def test_apply_records_every_step_and_where_each_item_went(project: FilesystemContract) -> None:
    result = apply(project)
    folder = _folder(project, result.migration_id)
    planned = Plan.load(folder / "plan.json")
    data = json.loads((folder / RECEIPT).read_text())
    assert data["fingerprint"] == planned.fingerprint
    assert len(data["steps"]) == len(data["times"]) == result.ops
    moves = [op for op in planned.ops if isinstance(op, (MoveTree, MoveFile))]
    rows = [step for step in data["steps"] if isinstance(step, list)]
    assert [row[:2] for row in rows] == [[op.dst, op.src] for op in moves]
    assert read_receipt(folder, "another plan") is None


def test_an_untouched_migration_is_rolled_back_from_the_receipt_alone(
    project: FilesystemContract, tmp_path: Path
) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    _hide_plan(_folder(project, result.migration_id), tmp_path)
    undone = rollback(project)
    assert undone.undone == result.ops
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)


def test_a_damaged_receipt_leaves_the_rollback_to_the_plan(project: FilesystemContract) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    (_folder(project, result.migration_id) / RECEIPT).write_text('{"format": 1, "steps": [')
    rollback(project)
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, 5), (1, None), (7, "yesterday"), (7, 1.5)],
    ids=["src-a-number", "dst-null", "mtime-text", "mtime-float"],
)
def test_a_receipt_row_of_the_wrong_types_leaves_the_rollback_to_the_plan(
    project: FilesystemContract, field: int, value: object
) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    folder = _folder(project, result.migration_id)
    data = json.loads((folder / RECEIPT).read_text())
    next(step for step in data["steps"] if isinstance(step, list))[field] = value
    (folder / RECEIPT).write_text(json.dumps(data))
    assert read_receipt(folder, data["fingerprint"]) is None
    assert rollback(project).undone == result.ops
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)


def test_a_receipt_pointing_outside_the_project_is_not_followed(
    project: FilesystemContract, tmp_path: Path
) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    path = _folder(project, result.migration_id) / RECEIPT
    data = json.loads(path.read_text())
    row = next(step for step in data["steps"] if isinstance(step, list))
    row[1] = "../escaped"
    path.write_text(json.dumps(data))
    rollback(project)
    assert not (tmp_path / "escaped").exists()
    assert_same_tree(before, project_state(project.base_path), modes=True, mtimes=True)


@pytest.mark.allow_legacy_writes
def test_a_new_entry_in_a_legacy_folder_costs_lookups_not_the_plan(
    project: FilesystemContract, tmp_path: Path
) -> None:
    before = project_state(project.base_path)
    result = apply(project)
    # logs/ changes: the items' legacy paths are looked up one by one instead.
    (project.base_path / "logs/later.txt").write_text("a later note")
    _hide_plan(_folder(project, result.migration_id), tmp_path)
    rollback(project)
    after = project_state(project.base_path)
    assert after.pop("logs/later.txt").size == len("a later note")
    before.pop("logs")
    after.pop("logs")
    assert_same_tree(before, after, modes=True, mtimes=True)


@pytest.mark.allow_legacy_writes
def test_something_at_a_legacy_path_is_refused_in_the_words_of_the_plan(
    project: FilesystemContract,
) -> None:
    result = apply(project)
    planned = Plan.load(_folder(project, result.migration_id) / "plan.json")
    moved = next(op for op in planned.ops if isinstance(op, MoveTree) and op.src.count("/") == 1)
    (project.base_path / moved.src).mkdir()  # an empty folder: os.rename would replace it
    with pytest.raises(RollbackRefused) as refused:
        rollback(project)
    assert f"{moved.src}: already exists; the migrator never overwrites" in str(refused.value)
    assert (project.base_path / moved.dst).is_dir()


def test_finalize_drops_the_receipt(project: FilesystemContract) -> None:
    result = apply(project)
    finalize(project)
    assert not (_folder(project, result.migration_id) / RECEIPT).exists()


def test_moving_back_puts_back_the_planned_mtime(tmp_path: Path) -> None:
    # Most filesystems keep a renamed folder's mtime; the step must not rely on it.
    (tmp_path / "run_logs/r1").mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    left = inventory.entry_of(tmp_path / "run_logs/r1")
    assert left is not None
    planned_mtime = left.mtime_ns - 86_400 * 10**9
    step = MoveBack("run_logs/r1", "logs/r1", *left[1:], planned_mtime, None)
    assert step.check(tmp_path) == []
    step.apply(tmp_path)
    assert os.lstat(tmp_path / "logs/r1").st_mtime_ns == planned_mtime
    assert step.is_applied(tmp_path)


def test_moving_back_checks_the_legacy_path_once_its_folder_changed(tmp_path: Path) -> None:
    (tmp_path / "run_logs/r1").mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    left = inventory.entry_of(tmp_path / "run_logs/r1")
    assert left is not None
    after_apply = os.lstat(tmp_path / "logs").st_mtime_ns
    step = MoveBack("run_logs/r1", "logs/r1", *left[1:], left.mtime_ns, after_apply)
    assert step.check(tmp_path) == []
    (tmp_path / "logs/r1").write_text("later")
    os.utime(tmp_path / "logs", ns=(after_apply + 10**9, after_apply + 10**9))
    assert [str(p) for p in step.check(tmp_path)] == [
        "logs/r1: already exists; the migrator never overwrites"
    ]
    (tmp_path / "run_logs/r1/late.txt").write_text("later")
    assert [str(p) for p in step.check(tmp_path)] == ["run_logs/r1: changed since the migration"]


def test_a_receipt_holds_only_while_every_move_in_it_passes_its_check(tmp_path: Path) -> None:
    # The moves of one receipt share their folders: what is asked of a folder once must
    # still be asked of each name, and an absolute path is no folder's sibling.
    for name in ("r1", "r2"):
        (tmp_path / "run_logs" / name).mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    after_apply = os.lstat(tmp_path / "logs").st_mtime_ns

    def move(name: str, legacy: str) -> MoveBack:
        left = inventory.entry_of(tmp_path / "run_logs" / name)
        assert left is not None
        return MoveBack(f"run_logs/{name}", legacy, *left[1:], left.mtime_ns, after_apply)

    first, second = move("r1", "logs/r1"), move("r2", "logs/r2")
    assert Receipt({0: first, 1: second}, {}).holds(tmp_path)
    for legacy in ("logs/..", "logs/.", "/r2", "../r2"):
        assert not Receipt({0: first, 1: move("r2", legacy)}, {}).holds(tmp_path), legacy
    (tmp_path / "run_logs/r2/late.txt").write_text("later")
    assert not Receipt({0: first, 1: second}, {}).holds(tmp_path)
    assert Receipt({0: first}, {}).holds(tmp_path)
