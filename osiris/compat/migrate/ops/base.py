"""What every migration step shares: problems, the `Op` base class and the `Step` protocol,
plan-time folder mtimes, and the path checks that keep a step inside the project root and
off symlinks (compat.md §4)."""

from __future__ import annotations

import errno
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, NamedTuple, Protocol

from osiris.compat.migrate import inventory
from osiris.compat.migrate.inventory import Entry
from osiris.core.fs_rename import rename_noreplace
from osiris.core.fsio import fsync_dir

LEGACY_ARCHIVE = "legacy"  # under .osiris/: `.osiris/legacy/<original path>`

Details = dict[str, Any]
NEVER_OVERWRITES = "already exists; the migrator never overwrites"


@dataclass(frozen=True)
class Problem:
    """Why a step cannot run now; `later_change` marks a change made after the migration."""

    path: PurePosixPath
    message: str
    later_change: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class StepRefused(Exception):
    """A step met a state it must not change (the problem says which and why)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class Step(Protocol):
    """What checking and running a step needs: an `Op`, or an undo-only step of a receipt
    (receipt.py)."""

    def check(self, root: Path) -> list[Problem]: ...

    def apply(self, root: Path) -> Details | None: ...

    def touched(self) -> set[str]: ...

    def describe(self) -> str: ...


class DirTime(NamedTuple):
    """The mtime a pre-existing folder had at plan time, put back when a step is undone."""

    # Project-relative text: thousands of steps name the same few folders, and hashing
    # a tuple of a string is done in C.
    path: str
    mtime_ns: int

    def _entry(self, root: Path) -> tuple[str, Entry | None]:
        if _outside(self.path):
            return "", None
        path = f"{root}/{self.path}"
        return path, inventory.entry_of(path)

    def holds(self, root: Path) -> bool:
        """True when the folder is still there with this mtime."""
        entry = self._entry(root)[1]
        return entry is not None and entry.kind == "d" and entry.mtime_ns == self.mtime_ns

    def put_back(self, root: Path) -> None:
        """Give the folder this mtime again, when it is still a folder (never outside `root`)."""
        path, entry = self._entry(root)
        if entry is not None and entry.kind == "d" and entry.mtime_ns != self.mtime_ns:
            inventory.set_mtime(path, self.mtime_ns)


def _path(root: Path, rel: PurePosixPath) -> Path:
    return Path(_at(root, rel))


def _at(root: Path, rel: PurePosixPath) -> str:
    """`root/rel` as a string: the many lookups of a step stay cheaper than building Paths."""
    if _outside(rel):
        raise StepRefused(Problem(rel, "is not a path inside the project"))
    return f"{root}/{rel}"


def parent_text(rel: str | PurePosixPath) -> str:
    """`str(rel.parent)`, without building the parent path."""
    return str(rel).rpartition("/")[0] or "."


def _outside(rel: str | PurePosixPath) -> bool:
    # On the path's text (a PurePosixPath is normalized): cheaper than its parts, and asked
    # for every step several times.
    text = str(rel)
    return (
        text.startswith("/")
        or text in (".", "..")
        or text.startswith("../")
        or text.endswith("/..")
        or "/../" in text
    )


def unsafe(root: Path, rel: PurePosixPath) -> Problem | None:
    """A problem when `rel` leaves the project or an existing folder on its way is a link."""
    if _outside(rel):
        return Problem(rel, "is not a path inside the project")
    parents = rel.parts[:-1]
    blocked = _blocked(root, parents)
    if blocked is None:
        return None
    depth, kind = blocked
    where = PurePosixPath(*parents[:depth])
    what = "a symlink (never written through)" if kind == "l" else "not a folder"
    return Problem(rel, f"{where} is {what}")


def usable_path(root: Path, rel: str) -> bool:
    """`unsafe(root, rel) is None`, on the path's text: it stays inside the project and no
    existing folder on its way is a link (each folder answered once in a `remembered` block)."""
    folder, _, name = rel.rpartition("/")
    if name in NOT_NAMES or rel[:1] == "/":
        return False
    if not folder:
        return True
    # Asked twice per step of a plan of thousands: the memo is read directly.
    memo = inventory.memo()
    key = ("usable path", os.fspath(root), folder)
    usable = memo.get(key)
    if usable is None:
        parents = tuple(folder.split("/"))
        usable = memo[key] = not _outside(folder) and _blocked(root, parents) is None
    return usable


NOT_NAMES = frozenset(("", ".", ".."))


def _blocked(root: Path, parents: tuple[str, ...]) -> tuple[int, str] | None:
    """The depth and kind of the first existing parent that is not a folder, if any."""
    # Steps share their parent folders: within a `remembered` block each is walked once.
    key = ("blocked", os.fspath(root), parents)
    return inventory.memoized(key, lambda: _walk_parents(root, parents))


def _walk_parents(root: Path, parents: tuple[str, ...]) -> tuple[int, str] | None:
    current = str(root)
    for depth, part in enumerate(parents, start=1):
        current = f"{current}/{part}"
        entry = inventory.entry_of(current)
        if entry is None:
            return None  # created by the plan's MakeDirs
        if entry.kind != "d":
            return depth, entry.kind
    return None


def _tmp(path: str) -> str:
    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}.osiris-migrate"


def relocate(source: str, target: str) -> dict[str, str] | None:
    """Rename on one device; across devices copy, fsync, verify, then remove the source.

    Never replaces: FileExistsError when something is at `target`. Returns the checksums
    of a copy (None after a rename).
    """
    try:
        rename_noreplace(source, target)
        return None
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    if inventory.entry_of(target) is not None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    staged = _tmp(target)
    inventory.remove(staged)  # what a crash left of an earlier copy
    sums = inventory.copy_verified(Path(source), Path(staged))
    rename_noreplace(staged, target)
    fsync_dir(Path(target).parent)
    # compat.md §4: the source goes only after its copy read back the same bytes.
    inventory.remove(source)
    fsync_dir(Path(source).parent)
    return sums


def set_aside(root: Path, rel: PurePosixPath, leftovers: PurePosixPath) -> str:
    """Move a later file or folder to `<leftovers>/<rel>` (rollback --force); never deletes."""
    destination = leftovers / rel
    target = _path(root, destination)
    if inventory.entry_of(target) is not None:
        raise StepRefused(Problem(destination, NEVER_OVERWRITES))
    target.parent.mkdir(parents=True, exist_ok=True)
    relocate(_at(root, rel), str(target))
    return str(destination)


@dataclass(frozen=True)
class Op(ABC):
    """One reversible step of a migration.

    Lifecycle: `plan` builds a step from what it sees and captures what its reverse needs
    (inventories, sizes, mtimes, digests, prior bytes). `check(root)` returns what blocks it
    now, as problems, never raising. `apply(root)` performs it and is idempotent: run again
    after a crash it finishes or cleans up a half-done step (`recover`) and skips a done
    one. `is_applied(root)` says whether its effect is in place. `reverse()` returns the
    step that undoes it; an undo step (`undo=True`) also puts back the plan-time mtimes of
    the pre-existing folders in `times`, and with `leftovers` set (rollback --force) it
    moves later files there or keeps later records instead of refusing. `to_json` and
    `op_from_json` round-trip a step through plan.json.
    """

    name: ClassVar[str]
    times: tuple[DirTime, ...] = field(default=(), kw_only=True)
    undo: bool = field(default=False, kw_only=True)
    leftovers: PurePosixPath | None = field(default=None, kw_only=True)

    @abstractmethod
    def check(self, root: Path) -> list[Problem]:
        """What blocks this step now (nothing is changed)."""

    @abstractmethod
    def apply(self, root: Path) -> Details | None:
        """Perform the step; returns what the journal should keep (checksums, kept paths)."""

    @abstractmethod
    def is_applied(self, root: Path) -> bool:
        """True when the step's effect is in place."""

    @abstractmethod
    def reverse(self) -> Op:
        """The step that undoes this one."""

    @abstractmethod
    def touched(self) -> set[str]:
        """The folders whose entries this step changes, project-relative (fsynced once per
        batch); strings, as a batch gathers thousands of them."""

    @abstractmethod
    def describe(self) -> str:
        """One line for plans and messages."""

    @abstractmethod
    def _fields(self) -> dict[str, Any]: ...

    def recover(self, root: Path) -> bool:
        """Bring a step a crash cut short to done or not started; True when done."""
        return self.is_applied(root)

    def verify(
        self, root: Path, details: Mapping[str, Any] | None, *, thorough: bool = False
    ) -> list[Problem]:
        """Differences between the applied step and what it recorded (`thorough`: compared
        path by path, not by the quickest sufficient check)."""
        if self.is_applied(root):
            return []
        return [Problem(PurePosixPath(self.describe()), "is not in place")]

    def unchanged(self, root: Path) -> bool:
        """True when what the step saw at plan time still holds and nothing blocks it."""
        return self._times_unchanged(root) and not self.check(root)

    def _times_unchanged(self, root: Path) -> bool:
        if not self.times:
            return True
        memo = inventory.memo()
        for kept in self.times:
            key = ("folder time", os.fspath(root), kept)
            held = memo.get(key)
            if held is None:
                held = memo[key] = kept.holds(root)
            if not held:
                return False
        return True

    def without_times(self, leftovers: PurePosixPath | None) -> Op:
        """This step without its folder mtimes, setting later files aside in `leftovers`."""
        return replace(self, times=(), leftovers=leftovers)

    def since(self) -> str:
        return "since the migration" if self.undo else "since the plan"

    def restore_times(self, root: Path) -> None:
        """Put back plan-time folder mtimes (undo steps only)."""
        if not self.undo:
            return
        for kept in self.times:
            kept.put_back(root)

    def to_json(self) -> dict[str, Any]:
        """A JSON object `op_from_json` turns back into an equal step."""
        data: dict[str, Any] = {"op": self.name, **self._fields()}
        if self.times:
            data["times"] = [list(t) for t in self.times]
        if self.undo:
            data["undo"] = True
        if self.leftovers is not None:
            data["leftovers"] = str(self.leftovers)
        return data


def times_from_json(rows: Iterable[list[Any]]) -> tuple[DirTime, ...]:
    """The folder mtimes `to_json` wrote as `times`."""
    return tuple(_dir_time(p, int(ns)) for p, ns in rows)


@lru_cache(maxsize=4096)
def _dir_time(text: str, mtime_ns: int) -> DirTime:
    # The same folder times repeat from step to step: one object each, checked once.
    return DirTime(str(PurePosixPath(text)), mtime_ns)


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return value


def _common(data: Mapping[str, Any]) -> dict[str, Any]:
    leftovers = data.get("leftovers")
    return {
        "times": times_from_json(data.get("times", ())),
        "undo": bool(data.get("undo", False)),
        "leftovers": PurePosixPath(leftovers) if leftovers else None,
    }
