"""The tree snapshot helper: what it records, what it ignores, and what the diff reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.tree import assert_same_tree, diff_trees, snapshot


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "data.txt").write_bytes(b"hello")
    (root / "top.txt").write_bytes(b"")
    (root / "cache").mkdir()
    (root / "cache" / "junk.bin").write_bytes(b"\0")
    os.symlink("a/b/data.txt", root / "link")
    return root


def test_snapshot_lists_files_folders_and_links_without_following(tree: Path) -> None:
    shot = snapshot(tree)
    assert list(shot) == [
        "a",
        "a/b",
        "a/b/data.txt",
        "cache",
        "cache/junk.bin",
        "link",
        "top.txt",
    ]
    data = shot["a/b/data.txt"]
    assert (data.kind, data.size) == ("file", 5)
    assert data.digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert (shot["a"].kind, shot["a"].digest) == ("dir", None)
    assert shot["link"].is_link and shot["link"].link_target == "a/b/data.txt"
    assert snapshot(tree / "missing") == {}


def test_ignore_hides_a_folder_and_everything_below(tree: Path) -> None:
    assert sorted(snapshot(tree, ignore=["cache", "*.txt"])) == ["a", "a/b", "link"]


def test_diff_reports_added_removed_and_changed_attributes(tree: Path) -> None:
    before = snapshot(tree)
    (tree / "top.txt").write_bytes(b"now with content")
    (tree / "cache" / "junk.bin").unlink()
    (tree / "new.txt").write_bytes(b"x")
    (tree / "link").unlink()
    os.symlink("top.txt", tree / "link")
    diff = diff_trees(before, snapshot(tree))
    assert diff.added == ("new.txt",)
    assert diff.removed == ("cache/junk.bin",)
    assert dict(diff.changed) == {"link": ("link_target",), "top.txt": ("size", "digest")}
    with pytest.raises(AssertionError) as raised:
        assert_same_tree(before, snapshot(tree))
    assert str(raised.value).splitlines() == [
        "the trees differ:",
        "- cache/junk.bin",
        "~ link (link_target)",
        "+ new.txt",
        "~ top.txt (size, digest)",
    ]


def test_modes_and_mtimes_are_compared_only_on_request(tree: Path) -> None:
    before = snapshot(tree)
    data = tree / "a" / "b" / "data.txt"
    data.chmod(0o600)
    os.utime(data, ns=(1, 1))
    after = snapshot(tree)
    assert_same_tree(before, after)
    assert dict(diff_trees(before, after, modes=True).changed) == {"a/b/data.txt": ("mode",)}
    assert dict(diff_trees(before, after, mtimes=True).changed) == {"a/b/data.txt": ("mtime_ns",)}
