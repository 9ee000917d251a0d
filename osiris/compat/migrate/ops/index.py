"""Steps that append the migrated runs' records to the run index and cut them off again."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat.migrate import inventory
from osiris.compat.migrate.ops.base import (
    Details,
    Op,
    Problem,
    StepRefused,
    _common,
    _path,
    parent_text,
    unsafe,
)
from osiris.core.fsio import append_sealed, atomic_write_bytes, json_bytes
from osiris.core.lock import file_lock


@dataclass(frozen=True)
class IndexFile:
    """One index file an AppendIndex extends: its state at plan time and the bytes added."""

    path: PurePosixPath
    existed: bool
    prior_size: int
    prior_sha256: str
    prior_mtime_ns: int | None
    data: str

    @property
    def payload(self) -> bytes:
        return json_bytes(self.data)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "existed": self.existed,
            "prior_size": self.prior_size,
            "prior_sha256": self.prior_sha256,
            "prior_mtime_ns": self.prior_mtime_ns,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexFile:
        return cls(
            PurePosixPath(data["path"]),
            bool(data["existed"]),
            int(data["prior_size"]),
            data["prior_sha256"],
            data["prior_mtime_ns"],
            data["data"],
        )

    @classmethod
    def planned(cls, root: Path, rel: PurePosixPath, data: str) -> IndexFile:
        """The file as it is now, to be extended by `data`."""
        entry = inventory.entry_of(root.joinpath(*rel.parts))
        if entry is None:
            return cls(rel, False, 0, hashlib.sha256().hexdigest(), None, data)
        prefix = prefix_sha256(root.joinpath(*rel.parts), entry.size) or ""
        return cls(rel, True, entry.size, prefix, entry.mtime_ns, data)


def prefix_sha256(path: Path, size: int) -> str | None:
    """The sha256 of a file's first `size` bytes; None when it is missing or shorter."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            remaining = size
            while remaining:
                chunk = handle.read(min(remaining, 1024 * 1024))
                if not chunk:
                    return None
                digest.update(chunk)
                remaining -= len(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _tail(path: Path, start: int) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read()
    except FileNotFoundError:
        return None


def _ours(path: Path, spec: IndexFile) -> tuple[int, int, int] | None:
    """(start, end, size) of the appended block, when the file holds it after the prior bytes.

    `start` includes the newline an append adds to end a torn last line.
    """
    tail = _tail(path, spec.prior_size)
    if tail is None:
        return None
    found = tail.find(spec.payload)
    if found < 0:
        return None
    start = 0 if tail[:found] in (b"", b"\n") else found
    size = spec.prior_size + len(tail)
    return spec.prior_size + start, spec.prior_size + found + len(spec.payload), size


@dataclass(frozen=True)
class _Index(Op):
    lock: PurePosixPath
    files: tuple[IndexFile, ...]

    def touched(self) -> set[str]:
        return {parent_text(f.path) for f in self.files}

    def _fields(self) -> dict[str, Any]:
        files = [f.to_json() for f in self.files]
        if files:
            # A by_pipeline file repeats records of runs.jsonl: saved as the numbers of those
            # lines ("lines"), it costs the plan a fraction of the bytes to write and read.
            first: dict[str, int] = {}
            for number, line in enumerate(_lines(files[0]["data"])):
                first.setdefault(line, number)
            for spec in files[1:]:
                numbers = [first.get(line) for line in _lines(spec["data"])]
                if None not in numbers:
                    del spec["data"]
                    spec["lines"] = numbers
        return {"lock": str(self.lock), "files": files}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Index:
        rows = data["files"]
        first = _lines(rows[0]["data"]) if rows else []
        files = tuple(
            IndexFile.from_json(f if "data" in f else {**f, "data": _pick(first, f["lines"])})
            for f in rows
        )
        return cls(PurePosixPath(data["lock"]), files, **_common(data))

    def _prefix_problems(self, root: Path) -> list[Problem]:
        problems = []
        for spec in self.files:
            path = _path(root, spec.path)
            # Every file, even a missing one, starts with the empty prefix of a new file.
            if spec.prior_size and prefix_sha256(path, spec.prior_size) != spec.prior_sha256:
                message = (
                    f"was rewritten {self.since()} (its first {spec.prior_size} bytes changed)"
                )
                problems.append(Problem(spec.path, message, self.undo))
        return problems

    def _present(self, root: Path) -> list[bool]:
        return [_ours(_path(root, spec.path), spec) is not None for spec in self.files]


def _lines(data: str) -> list[str]:
    return data.splitlines(keepends=True)


def _pick(lines: list[str], numbers: list[int]) -> str:
    """The given lines (by number) joined; ValueError for anything but a number in range."""
    count = len(lines)
    if not isinstance(numbers, list) or not all(type(n) is int and 0 <= n < count for n in numbers):
        raise ValueError("an index line number out of range")
    return "".join([lines[n] for n in numbers])


@dataclass(frozen=True)
class AppendIndex(_Index):
    """Append the migrated runs' records to runs.jsonl and by_pipeline files (index lock held)."""

    name = "append_index"

    def check(self, root: Path) -> list[Problem]:
        problems = [p for spec in self.files if (p := unsafe(root, spec.path))]
        return problems or self._prefix_problems(root)

    def is_applied(self, root: Path) -> bool:
        return all(self._present(root))

    def recover(self, root: Path) -> bool:
        """Done, or not started: an append cut short leaves torn bytes in one file and whole
        blocks in others; both are cut (records appended since are kept), so an unfinished
        step never leaves a record behind for rollback to miss."""
        with file_lock(_path(root, self.lock)):
            for spec in self.files:
                self._cut_torn_append(_path(root, spec.path), spec)
            if self.is_applied(root):
                return True
            self._cut_blocks(root)
        return False

    def _cut_blocks(self, root: Path, *, quietly: bool = False) -> None:
        for spec in self.files:
            with contextlib.suppress(*((OSError,) if quietly else ())):
                self._cut_block(_path(root, spec.path), spec)

    @staticmethod
    def _cut_block(path: Path, spec: IndexFile) -> None:
        remove_block(path, spec, keep_later=True)

    @staticmethod
    def _cut_torn_append(path: Path, spec: IndexFile) -> None:
        # A kill during the append can leave a prefix of our bytes at the end: cut it off,
        # and remove a file the append created and left without a byte of its own.
        tail = _tail(path, spec.prior_size)
        if tail is None or spec.payload in tail:
            return
        starts = [0] + [i + 1 for i, byte in enumerate(tail) if byte == 0x0A]
        for start in starts:
            rest = tail[start:]
            if rest and spec.payload.startswith(rest):
                os.truncate(path, spec.prior_size + start)
                tail = tail[:start]
                break
        if not spec.existed and not tail:
            os.unlink(path)

    def apply(self, root: Path) -> Details | None:
        if self.recover(root):
            return None
        problems = self._prefix_problems(root)
        if problems:
            raise StepRefused(problems[0])
        with file_lock(_path(root, self.lock)):
            try:
                self._append_all(root)
            except OSError:
                # A full disk on the third file: the first two lose their block again, and
                # a torn tail is cut, so the step stays "not started" (never half done).
                for spec in self.files:
                    with contextlib.suppress(OSError):
                        self._cut_torn_append(_path(root, spec.path), spec)
                self._cut_blocks(root, quietly=True)
                raise
        self.restore_times(root)
        return None

    def _append_all(self, root: Path) -> None:
        sync = getattr(os, "fdatasync", os.fsync)
        for spec in self.files:
            path = _path(root, spec.path)
            if _ours(path, spec) is not None:
                continue
            with open(path, "a+b") as handle:
                append_sealed(handle, spec.payload)
                sync(handle.fileno())

    def reverse(self) -> Op:
        return TruncateIndex(self.lock, self.files, times=self.times, undo=not self.undo)

    def describe(self) -> str:
        return f"append run records to {', '.join(str(f.path) for f in self.files)}"


@dataclass(frozen=True)
class TruncateIndex(_Index):
    """Cut the appended records off again, leaving each file with its exact prior bytes.

    Records appended after the migration make that impossible without loss: refused, or
    with `leftovers` set (rollback --force) only the migrated block is removed and the later
    records are kept.
    """

    name = "truncate_index"

    def check(self, root: Path) -> list[Problem]:
        problems = [p for spec in self.files if (p := unsafe(root, spec.path))]
        if problems:
            return problems
        problems = self._prefix_problems(root)
        for spec in self.files:
            block = _ours(_path(root, spec.path), spec)
            if block is not None and (block[0], block[1]) != (spec.prior_size, block[2]):
                message = f"holds records appended {self.since()}"
                problems.append(Problem(spec.path, message, later_change=True))
        return problems

    def apply(self, root: Path) -> Details | None:
        kept = []
        with file_lock(_path(root, self.lock)):
            for spec in self.files:
                path = _path(root, spec.path)
                if remove_block(path, spec, keep_later=self.leftovers is not None):
                    kept.append(str(spec.path))
        self.restore_times(root)
        return {"kept": kept} if kept else None

    def is_applied(self, root: Path) -> bool:
        return not any(self._present(root))

    def reverse(self) -> Op:
        return AppendIndex(self.lock, self.files, times=self.times, undo=not self.undo)

    def describe(self) -> str:
        return f"remove the migrated run records from {', '.join(str(f.path) for f in self.files)}"


def remove_block(path: Path, spec: IndexFile, *, keep_later: bool) -> bool:
    """Take the appended block out of an index file; True when records appended after it
    were kept (`keep_later`), StepRefused when they would be lost."""
    block = _ours(path, spec)
    if block is None:
        return False
    start, end, size = block
    if start == spec.prior_size and end == size:
        restore_prior(path, spec.existed, spec.prior_size, spec.prior_mtime_ns)
        return False
    if not keep_later:
        raise StepRefused(Problem(spec.path, "holds records appended since the migration"))
    content = path.read_bytes()
    mode = os.stat(path).st_mode & 0o7777
    atomic_write_bytes(path, content[:start] + content[end:], mode=mode)
    return True


def restore_prior(path: Path, existed: bool, prior_size: int, prior_mtime_ns: int | None) -> None:
    """Cut an index file back to its first `prior_size` bytes and mtime (remove it when the
    migration created it)."""
    if not existed:
        os.unlink(path)
        return
    with open(path, "r+b") as handle:
        handle.truncate(prior_size)
        handle.flush()
        os.fsync(handle.fileno())
    if prior_mtime_ns is not None:
        inventory.set_mtime(path, prior_mtime_ns)
