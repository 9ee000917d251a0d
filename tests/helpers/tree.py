"""Snapshots of a folder tree and a readable diff between two of them.

After `pypa/pip:tests/lib/__init__.py` (`assert_all_changes`): take `snapshot(root)`
before and after an operation, then `assert_same_tree(before, after)` or look at
`diff_trees(before, after)` to see exactly which paths appeared, vanished or changed.
Content (digest, size), kind and link targets are always compared; modes and mtimes
only on request, since most operations may legitimately touch them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FileInfo:
    """One entry of a snapshot. `digest` is the sha256 of a file's bytes (None otherwise)."""

    kind: str  # "file" | "dir" | "link" | "other"
    mode: int  # permission bits (stat.S_IMODE of lstat)
    mtime_ns: int
    size: int = 0  # bytes of a file; 0 for folders and links
    digest: str | None = None
    link_target: str | None = None

    @property
    def is_link(self) -> bool:
        return self.kind == "link"


def _ignored(rel: str, patterns: tuple[str, ...]) -> bool:
    """True when `rel` or one of its parent folders matches an fnmatch pattern."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes for pattern in patterns)


def _info(path: Path) -> FileInfo:
    st = path.lstat()
    mode, mtime = stat.S_IMODE(st.st_mode), st.st_mtime_ns
    if stat.S_ISLNK(st.st_mode):
        return FileInfo("link", mode, mtime, link_target=os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return FileInfo("dir", mode, mtime)
    if not stat.S_ISREG(st.st_mode):
        return FileInfo("other", mode, mtime)  # a FIFO or device: never opened
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return FileInfo("file", mode, mtime, size=st.st_size, digest=digest)


def snapshot(root: Path, *, ignore: Iterable[str] = ()) -> dict[str, FileInfo]:
    """Every path under `root` (folders included, links not followed) -> its `FileInfo`.

    Keys are POSIX paths relative to `root`; `root` itself is not listed. `ignore` holds
    fnmatch patterns on those paths; a matching folder hides everything below it.
    A missing `root` gives an empty snapshot.
    """
    root = Path(root)
    patterns = tuple(ignore)
    found: dict[str, FileInfo] = {}
    pending = [root] if root.is_dir() else []
    while pending:
        folder = pending.pop()
        for entry in os.scandir(folder):
            path = Path(entry.path)
            rel = path.relative_to(root).as_posix()
            if _ignored(rel, patterns):
                continue
            info = _info(path)
            found[rel] = info
            if info.kind == "dir":
                pending.append(path)
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class TreeDiff:
    """What differs between two snapshots: paths only in the second, only in the first,
    and paths in both with the names of the attributes that differ."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def paths(self) -> set[str]:
        """Every path that was added, removed or changed."""
        return {*self.added, *self.removed, *self.changed}

    def describe(self) -> str:
        lines = [f"+ {p}" for p in self.added] + [f"- {p}" for p in self.removed]
        lines += [f"~ {p} ({', '.join(what)})" for p, what in self.changed.items()]
        return "\n".join(sorted(lines, key=lambda line: line[2:]))


def diff_trees(
    before: Mapping[str, FileInfo],
    after: Mapping[str, FileInfo],
    *,
    modes: bool = False,
    mtimes: bool = False,
) -> TreeDiff:
    """Compare two snapshots: kind, size, digest and link target, plus modes/mtimes if asked.

    Folder mtimes are compared only with `mtimes=True`; adding a file changes its folder's.
    """
    attributes = ["kind", "size", "digest", "link_target"]
    if modes:
        attributes.append("mode")
    if mtimes:
        attributes.append("mtime_ns")
    changed = {}
    for rel in sorted(before.keys() & after.keys()):
        what = tuple(a for a in attributes if getattr(before[rel], a) != getattr(after[rel], a))
        if what:
            changed[rel] = what
    return TreeDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=changed,
    )


def assert_same_tree(
    before: Mapping[str, FileInfo],
    after: Mapping[str, FileInfo],
    *,
    modes: bool = False,
    mtimes: bool = False,
) -> None:
    """Fail with a `+ added / - removed / ~ changed (attributes)` list when the trees differ."""
    diff = diff_trees(before, after, modes=modes, mtimes=mtimes)
    if diff:
        raise AssertionError("the trees differ:\n" + diff.describe())
