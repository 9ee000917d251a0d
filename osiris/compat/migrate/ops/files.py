"""Steps that create and remove folders, write and delete derived files, and replace
pointer files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat.migrate import inventory
from osiris.compat.migrate.ops.base import (
    NEVER_OVERWRITES,
    Details,
    Op,
    Problem,
    StepRefused,
    _at,
    _common,
    _int_or_none,
    _outside,
    _path,
    parent_text,
    set_aside,
    unsafe,
)
from osiris.core.fsio import atomic_write_bytes, fsync_dir
from osiris.core.lock import INDEX_LOCK_NAME

# -- folders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dirs(Op):
    paths: tuple[PurePosixPath, ...]  # parents before children

    def touched(self) -> set[str]:
        return {parent_text(p) for p in self.paths}

    def _fields(self) -> dict[str, Any]:
        return {"paths": [str(p) for p in self.paths]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Dirs:
        return cls(tuple(PurePosixPath(p) for p in data["paths"]), **_common(data))


@dataclass(frozen=True)
class MakeDirs(_Dirs):
    """Create the folders the plan moves and writes into."""

    name = "make_dirs"

    def check(self, root: Path) -> list[Problem]:
        problems = [p for rel in self.paths if (p := unsafe(root, rel))]
        for rel in self.paths:
            entry = inventory.entry_of(root.joinpath(*rel.parts)) if not _outside(rel) else None
            if entry is not None and entry.kind != "d":
                problems.append(Problem(rel, "exists and is not a folder"))
        return problems

    def apply(self, root: Path) -> Details | None:
        for rel in self.paths:
            _path(root, rel).mkdir(exist_ok=True)
        self.restore_times(root)
        return None

    def recover(self, root: Path) -> bool:
        if any(inventory.entry_of(_at(root, rel)) for rel in self.paths):
            self.apply(root)
            return True
        return False

    def is_applied(self, root: Path) -> bool:
        return all(_kind(root, rel) == "d" for rel in self.paths)

    def reverse(self) -> Op:
        return RemoveDirs(self.paths, times=self.times, undo=not self.undo)

    def describe(self) -> str:
        return f"create {len(self.paths)} folder(s)"


def _kind(root: Path, rel: PurePosixPath) -> str | None:
    entry = inventory.entry_of(_at(root, rel))
    return entry.kind if entry else None


@dataclass(frozen=True)
class RemoveDirs(_Dirs):
    """Remove folders that are empty; a folder holding later files is kept, never emptied."""

    name = "remove_dirs"

    def check(self, root: Path) -> list[Problem]:
        return [p for rel in self.paths if (p := unsafe(root, rel))]

    def apply(self, root: Path) -> Details | None:
        kept = []
        for rel in reversed(self.paths):
            path = _path(root, rel)
            if _kind(root, rel) != "d":
                continue
            names = os.listdir(path)
            # A lock file is process state, not data: a created folder holding only one
            # is still empty.
            if names == [INDEX_LOCK_NAME]:
                os.unlink(path / INDEX_LOCK_NAME)
                names = []
            if names:
                kept.append(str(rel))
            else:
                os.rmdir(path)
        self.restore_times(root)
        return {"kept_folders": kept} if kept else None

    def is_applied(self, root: Path) -> bool:
        return all(_kind(root, rel) is None for rel in self.paths)

    def reverse(self) -> Op:
        return MakeDirs(self.paths, times=self.times, undo=not self.undo)

    def describe(self) -> str:
        return f"remove {len(self.paths)} folder(s) when empty"


# -- written files --------------------------------------------------------------------------


def _read(root: Path, rel: PurePosixPath) -> bytes | None:
    """A regular file's bytes, or None when nothing is there."""
    path = _path(root, rel)
    entry = inventory.entry_of(path)
    if entry is None:
        return None
    if entry.kind != "f":
        raise StepRefused(Problem(rel, "is not a regular file"))
    return path.read_bytes()


def _clean_temps(root: Path, rel: PurePosixPath) -> None:
    """Remove temp files a killed `atomic_write_bytes` left beside `rel` (`.<name>.*.tmp`)."""
    folder = _path(root, rel).parent
    prefix = f".{rel.name}."
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".tmp"):
            os.unlink(folder / name)


@dataclass(frozen=True)
class _File(Op):
    path: PurePosixPath
    data: str

    @property
    def payload(self) -> bytes:
        return self.data.encode("utf-8")

    def touched(self) -> set[str]:
        return {parent_text(self.path)}

    def _fields(self) -> dict[str, Any]:
        return {"path": str(self.path), "data": self.data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _File:
        return cls(PurePosixPath(data["path"]), data["data"], **_common(data))


def _current(root: Path, rel: PurePosixPath) -> tuple[bytes | None, Problem | None]:
    try:
        return _read(root, rel), None
    except StepRefused as refused:
        return None, refused.problem


@dataclass(frozen=True)
class WriteFile(_File):
    """Create a derived file (a generated summary.json); never over an existing one."""

    name = "write_file"

    def check(self, root: Path) -> list[Problem]:
        problem = unsafe(root, self.path)
        if problem:
            return [problem]
        if _kind(root, self.path) is not None:
            return [Problem(self.path, NEVER_OVERWRITES, self.undo)]
        return []

    def apply(self, root: Path) -> Details | None:
        if self.recover(root):
            return None
        if _kind(root, self.path) is not None:
            raise StepRefused(Problem(self.path, NEVER_OVERWRITES))
        atomic_write_bytes(_path(root, self.path), self.payload)
        self.restore_times(root)
        return None

    def recover(self, root: Path) -> bool:
        _clean_temps(root, self.path)
        return self.is_applied(root)

    def is_applied(self, root: Path) -> bool:
        return _current(root, self.path)[0] == self.payload

    def verify(
        self, root: Path, details: Mapping[str, Any] | None, *, thorough: bool = False
    ) -> list[Problem]:
        if self.is_applied(root):
            return []
        return [Problem(self.path, "differs from what the migration wrote, or is missing")]

    def reverse(self) -> Op:
        return DeleteFile(self.path, self.data, times=self.times, undo=not self.undo)

    def describe(self) -> str:
        return f"write {self.path}"


@dataclass(frozen=True)
class DeleteFile(_File):
    """Delete a file only while it holds the bytes written (forced: set a changed one aside)."""

    name = "delete_file"

    def check(self, root: Path) -> list[Problem]:
        problem = unsafe(root, self.path)
        if problem:
            return [problem]
        current, problem = _current(root, self.path)
        if problem:
            return [replace(problem, later_change=True)]
        if current is not None and current != self.payload:
            return [Problem(self.path, f"was changed {self.since()}", self.undo)]
        return []

    def apply(self, root: Path) -> Details | None:
        current = _read(root, self.path)
        details = None
        if current == self.payload:
            os.unlink(_path(root, self.path))
        elif current is not None:
            if self.leftovers is None:
                raise StepRefused(Problem(self.path, f"was changed {self.since()}"))
            details = {"aside": [set_aside(root, self.path, self.leftovers)]}
        self.restore_times(root)
        return details

    def is_applied(self, root: Path) -> bool:
        return _kind(root, self.path) is None

    def reverse(self) -> Op:
        return WriteFile(self.path, self.data, times=self.times, undo=not self.undo)

    def describe(self) -> str:
        return f"delete {self.path}"


@dataclass(frozen=True)
class WritePointer(Op):
    """Atomically replace a pointer file's bytes `prior` by `data` (None: no file).

    A pointer replaced in place (a 0.5.x one with absolute paths) records the mtime its prior
    bytes had, so the undo step puts the file back as it was: bytes, mode and mtime.
    """

    name = "write_pointer"
    path: PurePosixPath
    data: str | None
    prior: str | None
    prior_mtime_ns: int | None = None  # of the prior file; the undo step sets it back
    set_mtime_ns: int | None = None  # the undo step: the mtime the written bytes get

    @staticmethod
    def _bytes(text: str | None) -> bytes | None:
        return None if text is None else text.encode("utf-8")

    def check(self, root: Path) -> list[Problem]:
        problem = unsafe(root, self.path)
        if problem:
            return [problem]
        current, problem = _current(root, self.path)
        if problem:
            return [replace(problem, later_change=self.undo)]
        if current != self._bytes(self.prior) and current != self._bytes(self.data):
            return [Problem(self.path, f"was changed {self.since()}", self.undo)]
        return []

    def apply(self, root: Path) -> Details | None:
        if self.recover(root):
            return None
        if _read(root, self.path) != self._bytes(self.prior):
            if self.leftovers is None:
                raise StepRefused(Problem(self.path, f"was changed {self.since()}"))
            # rollback --force: a pointer written after the migration is newer; keep it.
            return {"kept": [str(self.path)]}
        target = _path(root, self.path)
        new = self._bytes(self.data)
        if new is None:
            os.unlink(target)
            fsync_dir(target.parent)
        else:
            atomic_write_bytes(target, new)
            if self.set_mtime_ns is not None:
                os.utime(target, ns=(self.set_mtime_ns, self.set_mtime_ns))
        self.restore_times(root)
        return None

    def recover(self, root: Path) -> bool:
        _clean_temps(root, self.path)
        return self.is_applied(root)

    def is_applied(self, root: Path) -> bool:
        return _current(root, self.path)[0] == self._bytes(self.data)

    def reverse(self) -> Op:
        return replace(
            self,
            data=self.prior,
            prior=self.data,
            prior_mtime_ns=None,
            set_mtime_ns=self.prior_mtime_ns,
            undo=not self.undo,
            leftovers=None,
        )

    def touched(self) -> set[str]:
        return {parent_text(self.path)}

    def describe(self) -> str:
        return f"{'remove' if self.data is None else 'point'} {self.path}"

    def _fields(self) -> dict[str, Any]:
        fields = {"path": str(self.path), "data": self.data, "prior": self.prior}
        for name in ("prior_mtime_ns", "set_mtime_ns"):
            if getattr(self, name) is not None:
                fields[name] = getattr(self, name)
        return fields

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WritePointer:
        return cls(
            PurePosixPath(data["path"]),
            data["data"],
            data["prior"],
            _int_or_none(data.get("prior_mtime_ns")),
            _int_or_none(data.get("set_mtime_ns")),
            **_common(data),
        )
