"""Inventories of moved paths: what a file or folder held at plan time, compared and copied later.

Symlinks are never followed: every path is examined with `lstat`, every folder listed with
`os.scandir`, and a link is recorded, compared and copied as a link.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, overload

from osiris.core.fsio import fsync_dir

TOP = "."
_CHUNK = 1024 * 1024
_KINDS = {stat.S_IFDIR: "d", stat.S_IFREG: "f", stat.S_IFLNK: "l"}
_MISSING = (FileNotFoundError, NotADirectoryError)


class Entry(NamedTuple):
    """One path of an inventory, relative to the inventoried top (`.` for the top itself)."""

    rel: str
    kind: str  # "d" folder, "f" file, "l" symlink, "o" anything else
    size: int
    mtime_ns: int
    mode: int
    target: str | None = None  # a symlink's text

    def to_json(self) -> list[Any]:
        return list(self)


def entries_from_json(rows: Iterable[Sequence[Any]]) -> tuple[Entry, ...]:
    """The entries `Entry.to_json` wrote (ValueError for a row of another length)."""
    # Built in C: a plan holds some fifteen entries per moved session.
    entries = tuple(map(_new_entry, rows))
    if entries and set(map(len, entries)) != {_FIELDS}:
        raise ValueError("an inventory row without its six fields")
    return entries


_new_entry = partial(tuple.__new__, Entry)
_FIELDS = len(Entry._fields)


class Inventory(Sequence[Entry]):
    """A moved item's entries, top first, kept as plan.json holds them (`rows`) and made
    `Entry`s on first use: applying a plan reads only a few rows of each item, and building
    every entry of ten thousand items costs more than their renames."""

    __slots__ = ("_entries", "rows")

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self.rows = rows
        self._entries: tuple[Entry, ...] | None = None

    @classmethod
    def from_json(cls, rows: Any) -> Inventory:
        """The rows `to_json` wrote (ValueError unless each has the six fields)."""
        if not isinstance(rows, list) or (rows and set(map(len, rows)) != {_FIELDS}):
            raise ValueError("an inventory row without its six fields")
        return cls(rows)

    def to_json(self) -> list[list[Any]]:
        return [list(row) for row in self.rows]

    @property
    def entries(self) -> tuple[Entry, ...]:
        if self._entries is None:
            self._entries = entries_from_json(self.rows)
        return self._entries

    @property
    def top(self) -> Entry:
        """The item's own entry (its first row), built alone."""
        return _new_entry(self.rows[0])

    @overload
    def __getitem__(self, index: int) -> Entry: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Entry, ...]: ...
    def __getitem__(self, index: int | slice) -> Entry | tuple[Entry, ...]:
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Inventory):
            return self.entries == other.entries
        return isinstance(other, tuple) and self.entries == other

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"Inventory({self.rows!r})"


def _entry(st: os.stat_result, rel: str, path: str | Path) -> Entry:
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "o")
    return Entry(
        rel,
        kind,
        st.st_size if kind == "f" else 0,
        st.st_mtime_ns,
        stat.S_IMODE(st.st_mode),
        os.readlink(path) if kind == "l" else None,
    )


T = TypeVar("T")
_remembered: ContextVar[dict[Any, Any] | None] = ContextVar("remembered", default=None)


@contextmanager
def remembered() -> Iterator[None]:
    """Within the block `entry_of` looks each path up once: for read-only passes over many
    steps that share folders (nothing may change the tree meanwhile)."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def memo() -> dict[Any, Any]:
    """The memo of the current `remembered` block (outside one: a new, unshared dict)."""
    found = _remembered.get()
    return {} if found is None else found


def memoized(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """`compute()`, looked up once per `key` within a `remembered` block."""
    memo: dict[Any, Any] | None = _remembered.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def entry_of(path: Path | str, rel: str = TOP) -> Entry | None:
    """The entry of one path (not followed if a link), or None when nothing is there."""
    memo = _remembered.get()
    key = (os.fspath(path), rel)
    if memo is not None and key in memo:
        return memo[key]
    try:
        found: Entry | None = _entry(os.lstat(path), rel, path)
    except _MISSING:
        found = None
    if memo is not None:
        memo[key] = found
    return found


def unchanged(path: Path | str, entries: Iterable[Sequence[Any]]) -> bool:
    """True when every path of an inventory is still exactly as recorded (one lstat each).

    A folder's mtime changes whenever an entry is added to it or removed from it (POSIX), so
    equal folder mtimes also say that nothing came or went; `drift` names what differs.
    """
    top = os.fspath(path)
    return all(
        same(top if rel == TOP else f"{top}/{rel}", kind, size, mtime_ns, mode, target)
        for rel, kind, size, mtime_ns, mode, target in entries
    )


def same(path: str, kind: str, size: int, mtime_ns: int, mode: int, target: str | None) -> bool:
    """True when the path is still the entry recorded (its rel aside), by one lstat."""
    try:
        st = os.lstat(path)
    except _MISSING:
        return False
    return not (
        st.st_mtime_ns != mtime_ns
        or stat.S_IMODE(st.st_mode) != mode
        or _KINDS.get(stat.S_IFMT(st.st_mode), "o") != kind
        or (kind == "f" and st.st_size != size)
        or (kind == "l" and os.readlink(path) != target)
    )


def _walk(path: str, rel: str, skip: frozenset[str], found: list[Entry]) -> None:
    with os.scandir(path) as listing:
        children = sorted(listing, key=lambda e: e.name)
    for child in children:
        child_rel = child.name if rel == TOP else f"{rel}/{child.name}"
        if child_rel in skip:
            continue
        try:
            st = child.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        entry = _entry(st, child_rel, child.path)
        found.append(entry)
        if entry.kind == "d":
            _walk(child.path, child_rel, skip, found)


def take(path: Path | str, *, skip: Iterable[str] = ()) -> tuple[Entry, ...]:
    """Every path at and below `path`, top first; `skip` leaves out subtrees (relative paths)."""
    top = entry_of(path)
    if top is None:
        return ()
    found = [top]
    if top.kind == "d":
        _walk(os.fspath(path), TOP, frozenset(skip), found)
    return tuple(found)


@dataclass(frozen=True)
class Drift:
    """How a path differs from its inventory: recorded paths missing, changed (with how), and
    recorded folders whose entries came or went (their mtime changed)."""

    missing: tuple[str, ...] = ()
    changed: tuple[tuple[str, str], ...] = ()
    reshaped: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.missing or self.changed or self.reshaped)

    def items(self, since: str) -> list[tuple[str, str]]:
        """One `(rel, what)` pair per difference; `since` ends the "added …" message."""
        found = [(rel, f"entries added or removed {since}") for rel in self.reshaped]
        found += [(rel, "missing") for rel in self.missing]
        return found + list(self.changed)


def _difference(old: Entry, new: Entry) -> str | None:
    if old.kind != new.kind:
        return f"was a {_NAMES[old.kind]}, now a {_NAMES[new.kind]}"
    if old.kind == "f" and old.size != new.size:
        return f"size {old.size} -> {new.size}"
    if old.target != new.target:
        return f"link target {old.target} -> {new.target}"
    if old.mode != new.mode:
        return f"mode {old.mode:o} -> {new.mode:o}"
    if old.kind != "d" and old.mtime_ns != new.mtime_ns:
        return "modified (mtime)"
    return None


_NAMES = {"d": "folder", "f": "file", "l": "symlink", "o": "special file"}


def under_any(rel: str, prefixes: tuple[str, ...]) -> bool:
    """True when `rel` is one of `prefixes` or lies below one."""
    return any(rel == p or rel.startswith(p + "/") for p in prefixes)


def drift(path: Path | str, inventory: Iterable[Entry], *, ignore: Iterable[str] = ()) -> Drift:
    """Compare what is at `path` now with the paths `inventory` recorded (one lstat each).

    An inventory records an item's own entry and the files a plan read inside it, not every
    path below it: what else a moved folder holds moves with it whatever it is. Paths in
    `ignore` (and below) belong to other steps, which also change the top folder's mtime,
    so neither is compared.
    """
    top, skipped = os.fspath(path), tuple(ignore)
    missing, changed, reshaped = [], [], []
    for old in inventory:
        if old.rel != TOP and under_any(old.rel, skipped):
            continue
        new = entry_of(top if old.rel == TOP else f"{top}/{old.rel}", old.rel)
        if new is None:
            missing.append(old.rel)
        elif old.kind == new.kind == "d" and old.mode == new.mode:
            if old.mtime_ns != new.mtime_ns and not (old.rel == TOP and skipped):
                reshaped.append(old.rel)
        elif what := _difference(old, new):
            changed.append((old.rel, what))
    return Drift(tuple(missing), tuple(changed), tuple(reshaped))


def covers(target: Path | str, source: Path | str) -> bool:
    """True when every path at and below `source` is at `target` too, the same kind, size,
    mode and (files and links) mtime: what a verified copy leaves when the removal of its
    source was cut short."""
    here, there = take(source), {e.rel: e for e in take(target)}
    for entry in here:
        other = there.get(entry.rel)
        if other is None or other.kind != entry.kind or other.mode != entry.mode:
            return False
        if entry.kind != "d" and (other.size, other.mtime_ns, other.target) != (
            entry.size,
            entry.mtime_ns,
            entry.target,
        ):
            return False
    return bool(here)


def sha256_file(path: Path | str) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def set_mtime(path: Path | str, mtime_ns: int) -> None:
    """Set a path's mtime (not following a link), keeping its atime."""
    atime = os.lstat(path).st_atime_ns
    os.utime(path, ns=(atime, mtime_ns), follow_symlinks=False)


def _copy_file(src: Path, dst: Path) -> str:
    digest = hashlib.sha256()
    with open(src, "rb") as reader, open(dst, "xb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(src, dst, follow_symlinks=False)
    return digest.hexdigest()


def copy_verified(src: Path, dst: Path) -> dict[str, str]:
    """Copy a file, link or tree to the new path `dst`, fsynced, with modes and mtimes.

    Returns the sha256 of every regular file by relative path, after reading each copy back
    and comparing it with its source (OSError on a mismatch).
    """
    sums: dict[str, str] = {}
    folders: list[tuple[Path, Path]] = []
    for entry in take(src):
        source = src if entry.rel == TOP else src / entry.rel
        target = dst if entry.rel == TOP else dst / entry.rel
        if entry.kind == "d":
            target.mkdir()
            folders.append((source, target))
        elif entry.kind == "l":
            os.symlink(entry.target or "", target)
            shutil.copystat(source, target, follow_symlinks=False)
        elif entry.kind == "f":
            sums[entry.rel] = _copy_file(source, target)
            if sha256_file(target) != sums[entry.rel]:
                raise OSError(f"copy of {source} does not read back the same bytes")
        else:
            raise OSError(f"{source} is not a file, folder or symlink and cannot be copied")
    # Deepest first, so filling a folder cannot change an mtime already copied.
    for source, target in reversed(folders):
        fsync_dir(target)
        shutil.copystat(source, target, follow_symlinks=False)
    return sums


def remove(path: Path | str) -> None:
    """Remove a file, link or tree; a link is removed as a link, never followed."""
    entry = entry_of(path)
    if entry is None:
        return
    if entry.kind == "d":
        shutil.rmtree(path)
    else:
        os.unlink(path)
