from __future__ import annotations

import ctypes
import errno
import os
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.platform.startswith("linux"):
    import posix

from osiris.core import fs_rename
from osiris.core.fs_rename import rename_noreplace


def _unsupported(*_: object) -> int:
    ctypes.set_errno(errno.EINVAL)  # what a filesystem without RENAME_NOREPLACE answers
    return -1


@pytest.fixture(params=["kernel", "no renameat2", "flag unsupported"])
def variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "no renameat2":
        monkeypatch.setattr(fs_rename, "_renameat2", lambda: None)
    elif request.param == "flag unsupported":
        monkeypatch.setattr(fs_rename, "_renameat2", lambda: _unsupported)
    return str(request.param)


def test_a_folder_is_renamed_with_what_it_holds(tmp_path: Path, variant: str) -> None:
    (tmp_path / "a/x").mkdir(parents=True)
    (tmp_path / "a/x/f.txt").write_text("kept")
    (tmp_path / "b").mkdir()
    rename_noreplace(str(tmp_path / "a/x"), str(tmp_path / "b/x"))
    assert not (tmp_path / "a/x").exists()
    assert (tmp_path / "b/x/f.txt").read_text() == "kept"


@pytest.mark.parametrize("taken", ["empty folder", "file"])
def test_nothing_at_the_target_is_ever_replaced(tmp_path: Path, variant: str, taken: str) -> None:
    # os.rename would silently replace both: an empty folder by a folder, a file by a file.
    source, target = tmp_path / "source", tmp_path / "target"
    if taken == "empty folder":
        source.mkdir()
        target.mkdir()
    else:
        source.write_text("new")
        target.write_text("old")
    with pytest.raises(FileExistsError):
        rename_noreplace(str(source), str(target))
    assert source.exists()
    if taken == "file":
        assert target.read_text() == "old"
    else:
        assert target.is_dir()


def test_a_missing_source_is_file_not_found(tmp_path: Path, variant: str) -> None:
    with pytest.raises(FileNotFoundError):
        rename_noreplace(str(tmp_path / "missing"), str(tmp_path / "target"))
    assert not (tmp_path / "target").exists()


def test_on_pyfakefs_the_fake_files_are_renamed(fs: Any) -> None:
    # The kernel call would look for these on the real disk: the fake os must be used.
    fs.create_file("/proj/a/x/f.txt", contents="kept")
    fs.create_dir("/proj/b")
    fs.create_dir("/proj/c")
    rename_noreplace("/proj/a/x", "/proj/b/x")
    assert Path("/proj/b/x/f.txt").read_text() == "kept"
    with pytest.raises(FileExistsError):
        rename_noreplace("/proj/c", "/proj/b")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux only")
def test_on_linux_the_kernel_refuses_in_the_rename_itself(tmp_path: Path) -> None:
    # The "kernel" variant above runs the atomic refusal, not the lookup before a rename.
    assert fs_rename._renameat2() is not None
    assert os.rename is posix.rename
