from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osiris.compat.migrate import inventory, ops
from osiris.compat.migrate.ops import (
    AppendIndex,
    DeleteFile,
    DirTime,
    IndexFile,
    MakeDirs,
    MoveFile,
    MoveTree,
    Op,
    Problem,
    RemoveDirs,
    StepRefused,
    TruncateIndex,
    WriteFile,
    WritePointer,
    op_from_json,
)
from tests.helpers.migration import project_state
from tests.helpers.tree import assert_same_tree, diff_trees

P = PurePosixPath
OLD = 1_600_000_000_000_000_000  # fixed mtimes, so a restored mtime is told from "now"


@pytest.fixture(params=["pyfakefs", "real"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "pyfakefs":
        request.getfixturevalue("fs")
        path = Path("/proj")
    else:
        path = tmp_path / "proj"
    path.mkdir()
    return path


@pytest.fixture
def fake_root(fs: Any) -> Path:
    path = Path("/proj")
    path.mkdir()
    return path


@pytest.fixture
def disk_root(tmp_path: Path) -> Path:
    """A real folder: telling later files relies on folder mtimes, which pyfakefs keeps."""
    path = tmp_path / "proj"
    path.mkdir()
    return path


def make_run(root: Path, rel: str = "logs/run_1") -> Path:
    """A session folder with a private file, a folder mode, a symlink and old mtimes."""
    top = root / rel
    (top / "artifacts" / "extract").mkdir(parents=True)
    (top / "events.jsonl").write_bytes(b'{"event":"run_start"}\n')
    (top / "artifacts" / "extract" / "out.csv").write_text("id\n1\n")
    os.chmod(top / "events.jsonl", 0o600)
    os.chmod(top / "artifacts", 0o750)
    os.symlink("../events.jsonl", top / "artifacts" / "events")
    paths = sorted((p for p in top.rglob("*")), key=lambda p: -len(p.parts))
    for i, path in enumerate([*paths, top, top.parent]):
        os.utime(path, ns=(OLD, OLD + i), follow_symlinks=False)
    return top


def times(root: Path, *folders: str) -> tuple[DirTime, ...]:
    return tuple(DirTime(f, os.lstat(root / f).st_mtime_ns) for f in folders)


def move(root: Path, src: str, dst: str, **extra: Any) -> Op:
    taken = inventory.take(root / src)
    kind = MoveTree if taken[0].kind == "d" else MoveFile
    parents = {str(P(src).parent), str(P(dst).parent)} - {"."}
    folders = [f for f in sorted(parents) if (root / f).is_dir()]
    return kind(P(src), P(dst), taken, times=times(root, *folders), **extra)


def run_all(root: Path, ops: list[Op]) -> None:
    for op in ops:
        op.apply(root)
        assert op.is_applied(root), op.describe()


def undo_all(root: Path, ops: list[Op]) -> None:
    for op in reversed(ops):
        op.reverse().apply(root)


# -- moves ----------------------------------------------------------------------------------


def test_move_tree_round_trip_restores_bytes_modes_and_mtimes(root: Path) -> None:
    make_run(root)
    before = project_state(root)
    ops = [
        MakeDirs((P("run_logs"), P("run_logs/dev"))),
        move(root, "logs/run_1", "run_logs/dev/r1"),
    ]
    run_all(root, ops)
    assert not (root / "logs/run_1").exists()
    assert (root / "run_logs/dev/r1/events.jsonl").read_bytes() == b'{"event":"run_start"}\n'
    assert ops[1].verify(root, None) == []
    undo_all(root, ops)
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)


def test_move_file_moves_a_symlink_as_a_link(root: Path) -> None:
    (root / "logs").mkdir()
    os.symlink("/nowhere/outside", root / "logs" / "latest")
    before = project_state(root)
    ops = [MakeDirs((P("archive"),)), move(root, "logs/latest", "archive/latest")]
    assert isinstance(ops[1], MoveFile)
    run_all(root, ops)
    assert os.readlink(root / "archive/latest") == "/nowhere/outside"
    undo_all(root, ops)
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)


def test_a_cross_device_move_copies_verifies_then_removes_the_source(
    fake_root: Path, fs: Any
) -> None:
    make_run(fake_root)
    fs.add_mount_point("/proj/run_logs")
    before = project_state(fake_root)
    op = move(fake_root, "logs/run_1", "run_logs/r1")
    details = op.apply(fake_root)
    assert details is not None
    assert set(details["sha256"]) == {"events.jsonl", "artifacts/extract/out.csv"}
    assert (
        details["sha256"]["events.jsonl"] == hashlib.sha256(b'{"event":"run_start"}\n').hexdigest()
    )
    assert not (fake_root / "logs/run_1").exists()
    # Modes, mtimes and the link travelled with the copy.
    assert not inventory.drift(fake_root / "run_logs/r1", op.inventory)  # type: ignore[attr-defined]
    assert op.verify(fake_root, details) == []
    op.reverse().apply(fake_root)
    assert_same_tree(before, project_state(fake_root), modes=True, mtimes=True)


def test_a_copy_that_reads_back_wrong_keeps_the_source(
    fake_root: Path, fs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_run(fake_root)
    fs.add_mount_point("/proj/run_logs")
    before = project_state(fake_root)
    op = move(fake_root, "logs/run_1", "run_logs/r1")
    monkeypatch.setattr(inventory, "sha256_file", lambda path: "0" * 64)
    with pytest.raises(OSError, match="does not read back the same bytes"):
        op.apply(fake_root)
    assert not (fake_root / "run_logs/r1").exists()
    assert {k: v for k, v in project_state(fake_root).items() if k.startswith("logs")} == {
        k: v for k, v in before.items() if k.startswith("logs")
    }
    monkeypatch.undo()
    op.apply(fake_root)  # the staged copy of the failed attempt is cleaned up first
    assert sorted(os.listdir(fake_root / "run_logs")) == ["r1"]


def test_an_interrupted_copy_is_restarted(fake_root: Path, fs: Any) -> None:
    make_run(fake_root)
    fs.add_mount_point("/proj/run_logs")
    op = move(fake_root, "logs/run_1", "run_logs/r1")
    staged = fake_root / "run_logs" / ".r1.osiris-migrate"
    inventory.copy_verified(fake_root / "logs/run_1", staged)
    (staged / "events.jsonl").unlink()  # the kill came mid-copy
    assert not op.recover(fake_root) and not staged.exists()
    op.apply(fake_root)
    assert op.verify(fake_root, None) == []


def test_a_copy_whose_source_removal_was_cut_short_is_finished(fake_root: Path, fs: Any) -> None:
    make_run(fake_root)
    fs.add_mount_point("/proj/run_logs")
    before = project_state(fake_root)
    op = move(fake_root, "logs/run_1", "run_logs/r1")
    inventory.copy_verified(fake_root / "logs/run_1", fake_root / "run_logs/r1")
    (fake_root / "logs/run_1/events.jsonl").unlink()  # removal of the source had begun
    assert not op.is_applied(fake_root)
    assert op.recover(fake_root)
    assert op.is_applied(fake_root) and op.verify(fake_root, None) == []
    op.reverse().apply(fake_root)
    assert_same_tree(before, project_state(fake_root), modes=True, mtimes=True)


def test_a_source_removal_is_not_finished_over_changed_files(fake_root: Path, fs: Any) -> None:
    make_run(fake_root)
    fs.add_mount_point("/proj/run_logs")
    op = move(fake_root, "logs/run_1", "run_logs/r1")
    inventory.copy_verified(fake_root / "logs/run_1", fake_root / "run_logs/r1")
    (fake_root / "logs/run_1/new.txt").write_text("written later")
    assert not op.recover(fake_root)
    assert (fake_root / "logs/run_1/new.txt").exists()


def test_a_move_never_overwrites(root: Path) -> None:
    make_run(root)
    (root / "run_logs/r1").mkdir(parents=True)
    (root / "run_logs/r1/keep.txt").write_text("mine")
    before = project_state(root)
    op = move(root, "logs/run_1", "run_logs/r1")
    assert op.check(root) == [
        Problem(P("run_logs/r1"), "already exists; the migrator never overwrites")
    ]
    with pytest.raises(StepRefused, match="never overwrites"):
        op.apply(root)
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)


def test_undo_reports_a_changed_folder_and_force_moves_it_back_whole(disk_root: Path) -> None:
    root = disk_root
    make_run(root)
    before = project_state(root)
    op = move(root, "logs/run_1", "r1")
    op.apply(root)
    (root / "r1/late.txt").write_text("a later run wrote this")
    undo = op.reverse()
    assert undo.check(root) == [
        Problem(P("r1"), "entries added or removed since the migration", later_change=True)
    ]
    forced = undo.__class__.from_json({**undo.to_json(), "leftovers": "left/over"})  # type: ignore[attr-defined]
    details = forced.apply(root)
    # What a folder holds is never split: it goes back with the later file in it.
    assert details == {"kept": ["logs/run_1"]}
    assert (root / "logs/run_1/late.txt").read_text() == "a later run wrote this"
    after = project_state(root)
    assert after.pop("logs/run_1/late.txt").size == len("a later run wrote this")
    assert not diff_trees(before, after, modes=True, mtimes=True).paths - {"logs/run_1"}


def test_a_file_added_deeper_in_a_moved_folder_moves_back_with_it(disk_root: Path) -> None:
    # The quick check reads the moved folder's own entry only: what is deeper moves with
    # the folder, so nothing can be lost, and no listing is paid per moved folder.
    root = disk_root
    make_run(root)
    op = move(root, "logs/run_1", "r1")
    op.apply(root)
    (root / "r1/artifacts/extract/late.csv").write_text("id\n2\n")
    undo = op.reverse()
    assert undo.check(root) == []
    undo.apply(root)
    assert (root / "logs/run_1/artifacts/extract/late.csv").read_text() == "id\n2\n"
    assert not (root / "r1").exists()


def test_paths_outside_the_project_or_through_links_are_refused(root: Path) -> None:
    make_run(root)
    os.symlink("/tmp", root / "linked")
    taken = inventory.take(root / "logs/run_1")
    outside = MoveTree(P("logs/run_1"), P("../elsewhere"), taken)
    through = MoveTree(P("logs/run_1"), P("linked/run_1"), taken)
    assert outside.check(root) == [Problem(P("../elsewhere"), "is not a path inside the project")]
    assert through.check(root) == [
        Problem(P("linked/run_1"), "linked is a symlink (never written through)")
    ]


# -- folders --------------------------------------------------------------------------------


def test_made_folders_are_removed_again_when_empty(root: Path) -> None:
    (root / "run_logs").mkdir()
    os.utime(root / "run_logs", ns=(OLD, OLD))
    before = project_state(root)
    made = MakeDirs(
        (P("run_logs/dev"), P("run_logs/dev/a"), P("run_logs/dev/b")), times=times(root, "run_logs")
    )
    made.apply(root)
    assert made.is_applied(root)
    (root / "run_logs/dev/b/.lock").write_text("")  # a lock file is not data
    assert made.reverse().apply(root) is None
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)


def test_a_folder_holding_later_files_is_kept(root: Path) -> None:
    made = MakeDirs((P("run_logs"), P("run_logs/dev")))
    made.apply(root)
    (root / "run_logs/dev/new-run.txt").write_text("later")
    undo = made.reverse()
    assert isinstance(undo, RemoveDirs) and undo.check(root) == []
    assert undo.apply(root) == {"kept_folders": ["run_logs/dev", "run_logs"]}
    assert (root / "run_logs/dev/new-run.txt").exists()


# -- written files --------------------------------------------------------------------------


def test_a_written_file_is_deleted_only_while_unchanged(root: Path) -> None:
    (root / "aiop").mkdir()
    before = project_state(root)
    write = WriteFile(P("aiop/summary.json"), '{"run_id": "r1"}\n')
    assert write.check(root) == []
    write.apply(root)
    assert (root / "aiop/summary.json").read_text() == '{"run_id": "r1"}\n'
    assert write.check(root) == [
        Problem(P("aiop/summary.json"), "already exists; the migrator never overwrites")
    ]
    (root / "aiop/summary.json").write_text("edited by hand")
    delete = write.reverse()
    assert isinstance(delete, DeleteFile)
    assert delete.check(root) == [
        Problem(P("aiop/summary.json"), "was changed since the migration", later_change=True)
    ]
    with pytest.raises(StepRefused):
        delete.apply(root)
    (root / "aiop/summary.json").write_text('{"run_id": "r1"}\n')
    delete.apply(root)
    assert_same_tree(before, project_state(root))


def test_a_changed_written_file_is_set_aside_by_force(root: Path) -> None:
    write = WriteFile(P("summary.json"), "{}\n")
    write.apply(root)
    (root / "summary.json").write_text("edited")
    forced = op_from_json({**write.reverse().to_json(), "leftovers": "keep"})
    assert forced.apply(root) == {"aside": ["keep/summary.json"]}
    assert (root / "keep/summary.json").read_text() == "edited"


def test_a_temp_file_left_by_a_kill_is_removed(root: Path) -> None:
    write = WriteFile(P("summary.json"), "{}\n")
    (root / ".summary.json.k1ll3d.tmp").write_text("{")
    write.apply(root)
    assert sorted(os.listdir(root)) == ["summary.json"]


def test_a_pointer_is_replaced_and_restored_to_its_prior_bytes(root: Path) -> None:
    (root / "latest").mkdir()
    (root / "latest/orders.txt").write_text("old\n")
    os.utime(root / "latest/orders.txt", ns=(OLD, OLD))
    os.utime(root / "latest", ns=(OLD, OLD))
    pointer = WritePointer(P("latest/orders.txt"), "new\n", "old\n", times=times(root, "latest"))
    before = project_state(root)
    pointer.apply(root)
    assert (root / "latest/orders.txt").read_text() == "new\n"
    pointer.reverse().apply(root)
    assert (root / "latest/orders.txt").read_text() == "old\n"
    assert {k: v.digest for k, v in project_state(root).items()} == {
        k: v.digest for k, v in before.items()
    }
    assert os.lstat(root / "latest").st_mtime_ns == OLD


def test_a_pointer_replaced_in_place_gets_its_mtime_back(root: Path) -> None:
    # A 0.5.x pointer with absolute paths is rewritten in place; rollback restores it whole.
    (root / "latest").mkdir()
    (root / "latest/orders.txt").write_text("/old/place/m.yaml\nabc\ndev\n")
    os.utime(root / "latest/orders.txt", ns=(OLD, OLD))
    pointer = WritePointer(P("latest/orders.txt"), "build/m.yaml\nabc\ndev\n", None)
    pointer = replace(pointer, prior=(root / "latest/orders.txt").read_text(), prior_mtime_ns=OLD)
    pointer.apply(root)
    assert os.lstat(root / "latest/orders.txt").st_mtime_ns != OLD
    undo = op_from_json(pointer.reverse().to_json())  # as the journal keeps it
    assert undo.check(root) == []
    undo.apply(root)
    assert (root / "latest/orders.txt").read_text() == "/old/place/m.yaml\nabc\ndev\n"
    assert os.lstat(root / "latest/orders.txt").st_mtime_ns == OLD


def test_a_new_pointer_is_removed_and_a_newer_one_kept(root: Path) -> None:
    pointer = WritePointer(P("last_compile.txt"), "build/m.yaml\nabc\ndev\n", None)
    pointer.apply(root)
    pointer.reverse().apply(root)
    assert not (root / "last_compile.txt").exists()
    pointer.apply(root)
    (root / "last_compile.txt").write_text("a newer compile\n")
    undo = pointer.reverse()
    assert undo.check(root) == [
        Problem(P("last_compile.txt"), "was changed since the migration", later_change=True)
    ]
    forced = op_from_json({**undo.to_json(), "leftovers": "x"})
    assert forced.apply(root) == {"kept": ["last_compile.txt"]}
    assert (root / "last_compile.txt").read_text() == "a newer compile\n"


# -- the index ------------------------------------------------------------------------------

RECORDS = '{"run_id":"run_1"}\n{"run_id":"run_2"}\n'


def index_op(root: Path, *rels: str) -> AppendIndex:
    files = tuple(IndexFile.planned(root, P(rel), RECORDS) for rel in rels)
    return AppendIndex(P("index/.lock"), files, times=times(root, "index"))


def test_index_files_get_back_their_exact_prior_bytes(root: Path) -> None:
    (root / "index").mkdir()
    torn = b'{"run_id":"old"}\n{"run_id":"cut'  # a crash tore the last line
    (root / "index/runs.jsonl").write_bytes(torn)
    os.utime(root / "index/runs.jsonl", ns=(OLD, OLD))
    os.utime(root / "index", ns=(OLD, OLD))
    before = project_state(root)
    op = index_op(root, "index/runs.jsonl", "index/orders.jsonl")
    op.apply(root)
    assert (root / "index/runs.jsonl").read_bytes() == torn + b"\n" + RECORDS.encode()
    assert (root / "index/orders.jsonl").read_text() == RECORDS
    op.apply(root)  # applied once, whatever the number of calls
    assert (root / "index/orders.jsonl").read_text() == RECORDS
    undo = op.reverse()
    assert isinstance(undo, TruncateIndex) and undo.check(root) == []
    undo.apply(root)
    after = {k: v for k, v in project_state(root).items() if k != "index/.lock"}
    assert_same_tree(before, after, modes=True, mtimes=True)


def test_records_appended_later_are_kept_by_force_only(root: Path) -> None:
    (root / "index").mkdir()
    op = index_op(root, "index/runs.jsonl")
    op.apply(root)
    with open(root / "index/runs.jsonl", "a") as handle:
        handle.write('{"run_id":"later"}\n')
    undo = op.reverse()
    assert undo.check(root) == [
        Problem(P("index/runs.jsonl"), "holds records appended since the migration", True)
    ]
    with pytest.raises(StepRefused):
        undo.apply(root)
    forced = op_from_json({**undo.to_json(), "leftovers": "x"})
    assert forced.apply(root) == {"kept": ["index/runs.jsonl"]}
    assert (root / "index/runs.jsonl").read_text() == '{"run_id":"later"}\n'


def test_a_torn_append_is_cut_and_done_again(root: Path) -> None:
    (root / "index").mkdir()
    (root / "index/runs.jsonl").write_text('{"run_id":"old"}\n')
    op = index_op(root, "index/runs.jsonl")
    with open(root / "index/runs.jsonl", "a") as handle:
        handle.write(RECORDS[:25])  # killed in the middle of the write
    assert not op.recover(root)
    assert (root / "index/runs.jsonl").read_text() == '{"run_id":"old"}\n'
    op.apply(root)
    assert (root / "index/runs.jsonl").read_text() == '{"run_id":"old"}\n' + RECORDS


def test_an_append_cut_short_between_files_leaves_no_record_behind(root: Path) -> None:
    # A kill (or a full disk) after the first file's append: its whole block, the second's
    # torn bytes, and a record another run appended since the kill.
    (root / "index").mkdir()
    (root / "index/runs.jsonl").write_text('{"run_id":"old"}\n')
    op = index_op(root, "index/runs.jsonl", "index/a.jsonl", "index/b.jsonl")
    with open(root / "index/runs.jsonl", "a") as handle:
        handle.write(RECORDS + '{"run_id":"later"}\n')
    (root / "index/a.jsonl").write_text(RECORDS[:10])
    assert not op.recover(root)  # not started again: rollback has nothing to undo
    assert (root / "index/runs.jsonl").read_text() == '{"run_id":"old"}\n{"run_id":"later"}\n'
    assert not (root / "index/a.jsonl").exists() and not (root / "index/b.jsonl").exists()
    op.apply(root)  # and a resumed apply appends every file once
    assert (root / "index/b.jsonl").read_text() == RECORDS


def test_a_failed_write_takes_back_the_files_already_appended(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "index").mkdir()
    (root / "index/runs.jsonl").write_text('{"run_id":"old"}\n')
    op = index_op(root, "index/runs.jsonl", "index/a.jsonl", "index/b.jsonl")

    def full_disk(path, mode="r", *args, **kwargs):
        if str(path).endswith("b.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(ops.index, "open", full_disk, raising=False)
    with pytest.raises(OSError, match="No space left"):
        op.apply(root)
    monkeypatch.undo()
    assert (root / "index/runs.jsonl").read_text() == '{"run_id":"old"}\n'
    assert not (root / "index/a.jsonl").exists()
    assert not op.is_applied(root) and not op.recover(root)


def test_an_index_rewritten_since_the_plan_is_refused(root: Path) -> None:
    (root / "index").mkdir()
    (root / "index/runs.jsonl").write_text('{"run_id":"old"}\n')
    op = index_op(root, "index/runs.jsonl")
    (root / "index/runs.jsonl").write_text('{"run_id":"new"}\n')
    problem = Problem(
        P("index/runs.jsonl"), "was rewritten since the plan (its first 17 bytes changed)"
    )
    assert op.check(root) == [problem]
    with pytest.raises(StepRefused):
        op.apply(root)


# -- as data --------------------------------------------------------------------------------


def test_every_step_round_trips_through_json(root: Path) -> None:
    make_run(root)
    (root / "index").mkdir()
    moved = move(root, "logs/run_1", "run_logs/r1", ignore=("summary.json",))
    steps: list[Op] = [
        moved,
        moved.reverse(),
        op_from_json({**moved.reverse().to_json(), "leftovers": "aside"}),
        move(root, "logs/run_1/events.jsonl", "events.jsonl"),
        MakeDirs((P("a"), P("a/b")), times=times(root, "logs")),
        RemoveDirs((P("a"),), undo=True),
        WriteFile(P("a/summary.json"), "{}\n"),
        DeleteFile(P("a/summary.json"), "{}\n", undo=True),
        WritePointer(P("latest.txt"), "x\n", None),
        WritePointer(P("latest.txt"), None, "x\n", undo=True),
        index_op(root, "index/runs.jsonl"),
        index_op(root, "index/runs.jsonl").reverse(),
    ]
    for step in steps:
        assert op_from_json(json.loads(json.dumps(step.to_json()))) == step
        # leftovers is how one rollback resolves later changes, not part of the step
        assert step.reverse().reverse() == replace(step, leftovers=None)
    with pytest.raises(ValueError, match="unknown migration step"):
        op_from_json({"op": "format_disk"})


def test_index_files_repeating_runs_jsonl_are_saved_as_its_line_numbers() -> None:
    empty = hashlib.sha256().hexdigest()
    runs = IndexFile(P("index/runs.jsonl"), False, 0, empty, None, '{"a":1}\n{"b":2}\n{"c":3}\n')
    by_pipeline = IndexFile(P("index/by_pipeline/x.jsonl"), False, 0, empty, None, '{"c":3}\n')
    other = IndexFile(P("index/other.jsonl"), False, 0, empty, None, '{"z":0}\n')
    step = AppendIndex(P("index/.lock"), (runs, by_pipeline, other))

    saved = json.loads(json.dumps(step.to_json()))

    assert [f.get("lines") for f in saved["files"]] == [None, [2], None]
    assert "data" not in saved["files"][1] and saved["files"][2]["data"] == '{"z":0}\n'
    assert op_from_json(saved) == step
    for damaged in ([3], [-1], [True], "2"):
        saved["files"][1]["lines"] = damaged
        with pytest.raises(ValueError, match="out of range"):
            op_from_json(saved)


SEGMENTS = st.sampled_from(["a", "b.c", "..", ".", "", "...", "x..y", "..z"])


@given(st.booleans(), st.lists(SEGMENTS, max_size=5))
def test_outside_is_told_from_the_text_as_from_the_parts(absolute: bool, parts: list[str]) -> None:
    rel = PurePosixPath(("/" if absolute else "") + "/".join(parts))
    assert ops._outside(rel) == (rel.is_absolute() or ".." in rel.parts or not rel.parts)


@given(st.booleans(), st.lists(SEGMENTS, max_size=5), st.sampled_from(["", "linked", "file"]))
def test_usable_path_answers_as_unsafe_does(absolute: bool, parts: list[str], first: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        os.symlink(tmp, root / "linked")
        (root / "file").write_text("not a folder")
        rel = PurePosixPath(("/" if absolute else "") + "/".join([first, *parts]))
        with inventory.remembered():
            assert ops.usable_path(root, str(rel)) == (ops.unsafe(root, rel) is None)


def test_a_cut_short_source_removal_is_finished_only_when_the_copy_holds_it(
    disk_root: Path,
) -> None:
    # A copy across devices was renamed into place; a kill cut the removal of its source
    # short. What is left of the source goes only when the copy holds every path of it.
    root = disk_root
    make_run(root)
    op = move(root, "logs/run_1", "r1")
    inventory.copy_verified(root / "logs/run_1", root / "r1")
    (root / "logs/run_1/events.jsonl").unlink()  # removed before the kill
    assert inventory.covers(root / "r1", root / "logs/run_1")
    (root / "logs/run_1/late.txt").write_text("written meanwhile")
    assert not inventory.covers(root / "r1", root / "logs/run_1")
    assert op.recover(root) is False
    assert (root / "logs/run_1/late.txt").read_text() == "written meanwhile"
    (root / "logs/run_1/late.txt").unlink()
    assert op.recover(root) is True
    assert not (root / "logs/run_1").exists() and (root / "r1/events.jsonl").is_file()
