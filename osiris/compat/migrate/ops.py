"""Migration steps as data (compat.md §4): each checks, applies and undoes itself.

Every path is project-relative; a step never follows a symlink and never writes outside the
project root or through a linked folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, NamedTuple, Protocol

from osiris.compat.migrate import inventory
from osiris.compat.migrate.inventory import TOP, Entry, Inventory
from osiris.core.fs_rename import rename_noreplace
from osiris.core.fsio import append_sealed, atomic_write_bytes, fsync_dir, json_bytes
from osiris.core.lock import file_lock
from osiris.core.run_index import IndexPaths

Details = dict[str, Any]
# A lock file is process state, not data: a created folder holding only one is still empty.
_LOCK_NAME = IndexPaths(Path(".")).lock.name
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


def _parent(rel: str | PurePosixPath) -> str:
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
    if name in _NOT_NAMES or rel[:1] == "/":
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


_NOT_NAMES = frozenset(("", ".", ".."))


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


# -- moves ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Move(Op):
    # Project-relative paths as text: a plan loads a step per session, and building path
    # objects for them cost more than the steps' renames.
    src: str
    dst: str
    inventory: Inventory  # a tuple of entries is taken too
    # Paths inside the folder that other steps of the same plan move out before this one
    # (a compile session's compiled/) or write after it (summary.json): never later changes.
    ignore: tuple[str, ...] = field(default=(), kw_only=True)
    # Where in `inventory` the files are that the plan read to derive something (events,
    # manifests): their size and mtime are compared too when telling whether the plan holds.
    watch: tuple[int, ...] = field(default=(), kw_only=True)
    # The sha256 of each watched file as the plan read it: the index records were derived
    # from these bytes, and `osiris migrate verify` checks that the moved files still hold
    # them (a same-size edit with its mtime put back shows in nothing else).
    watch_sha256: tuple[str, ...] = field(default=(), kw_only=True)
    # Told from the paths once (`__post_init__`), asked by every action of the step.
    _outside_path: str | None = field(default=None, init=False, repr=False, compare=False)

    kinds: ClassVar[frozenset[str]]
    what: ClassVar[str]

    def __post_init__(self) -> None:
        # Runs once per step of a loaded plan: plain tests, no loops.
        if not isinstance(self.src, str):
            object.__setattr__(self, "src", str(self.src))
        if not isinstance(self.dst, str):
            object.__setattr__(self, "dst", str(self.dst))
        if not isinstance(self.inventory, Inventory):
            object.__setattr__(self, "inventory", Inventory(tuple(self.inventory)))
        if _outside(self.src) or _outside(self.dst):
            outside = self.src if _outside(self.src) else self.dst
            object.__setattr__(self, "_outside_path", outside)

    @property
    def src_path(self) -> PurePosixPath:
        return PurePosixPath(self.src)

    @property
    def dst_path(self) -> PurePosixPath:
        return PurePosixPath(self.dst)

    def _where(self, root: Path) -> tuple[str, str]:
        """Source and target under `root` (`_at` for both, worked out once per step)."""
        if self._outside_path is not None:
            problem = Problem(PurePosixPath(self._outside_path), "is not a path inside the project")
            raise StepRefused(problem)
        return f"{root}/{self.src}", f"{root}/{self.dst}"

    def _as_inventoried(self, path: str, *, read_too: bool = False) -> bool:
        """True when the item itself (`read_too`: and every file the plan read inside it) is
        as inventoried: one lstat each, nothing listed.

        A folder's mtime changes whenever an entry is added to it or removed (POSIX), so
        an unchanged mtime says its own entries are the ones inventoried. Everything deeper
        moves with the folder whatever it holds, so nothing there can be lost; it is
        compared path by path only when this quick answer is no (`inventory.drift`), and by
        `osiris migrate verify`.
        """
        rows = self.inventory.rows
        if read_too and self.watch:
            return inventory.unchanged(path, [rows[0], *[rows[i] for i in self.watch]])
        return inventory.unchanged(path, rows[:1])

    def _usable(self, root: Path) -> bool:
        """True when neither path leaves the project nor passes through a link (`unsafe`)."""
        return usable_path(root, self.src) and usable_path(root, self.dst)

    def check(self, root: Path) -> list[Problem]:
        if not self._usable(root):
            return [p for rel in (self.src_path, self.dst_path) if (p := unsafe(root, rel))]
        problems: list[Problem] = []
        if not self.inventory or self.inventory.top.kind not in self.kinds:
            return [Problem(self.src_path, f"was not a {self.what} when planned")]
        later = self.undo
        source, target = self._where(root)
        if inventory.entry_of(target) is not None:
            problems.append(Problem(self.dst_path, NEVER_OVERWRITES, later))
        found = inventory.entry_of(source)
        if found is None:
            return [*problems, Problem(self.src_path, f"was removed {self.since()}", later)]
        if found.kind not in self.kinds:
            return [*problems, Problem(self.src_path, f"is no longer a {self.what}", later)]
        if self.undo and found[1:] != self.inventory.top[1:]:
            # An undo step must not carry later changes into the legacy layout unnoticed; a
            # forward step moves its source as it is (the plan's fingerprint guards staleness).
            # The item's own entry is the quick answer (see `_as_inventoried`).
            drifted = inventory.drift(source, self.inventory, ignore=self.ignore)
            for rel, message in drifted.items(self.since()):
                problems.append(Problem(self._under(self.src, rel), message, later))
        return problems

    @staticmethod
    def _under(top: str, rel: str) -> PurePosixPath:
        return PurePosixPath(top if rel == TOP else f"{top}/{rel}")

    def unchanged(self, root: Path) -> bool:
        if not self._usable(root) or not self._times_unchanged(root):
            return False
        source, target = self._where(root)
        return self._target_free(root, target) and self._as_inventoried(source, read_too=True)

    def _target_free(self, root: Path, target: str) -> bool:
        """Nothing at the target, with the times checked: looked up only when not implied.

        It is implied when the target's folder kept its plan-time mtime (it is in `times`;
        an added entry would have changed it) or does not exist (one lookup per folder,
        memoized within a `remembered` block).
        """
        folder = _parent(self.dst)
        if inventory.entry_of(f"{root}/{folder}") is None:
            return True
        if any(kept.path == folder for kept in self.times):
            return True
        return inventory.entry_of(target) is None

    def is_applied(self, root: Path) -> bool:
        source, target = self._where(root)
        return inventory.entry_of(source) is None and inventory.entry_of(target) is not None

    def recover(self, root: Path) -> bool:
        return self._settle(*self._where(root))[0]

    def _settle(self, source: str, target: str) -> tuple[bool, bool, bool]:
        """`recover`, telling also what it found: (done, source there, target there)."""
        # An interrupted copy: its source is intact, so the staged copy can go.
        inventory.remove(_tmp(target))
        has_source = inventory.entry_of(source) is not None
        if inventory.entry_of(target) is None:
            return False, has_source, False
        if not has_source:
            return True, False, True
        if inventory.drift(target, self.inventory, ignore=self.ignore):
            return False, True, True
        # A verified copy whose source removal was cut short: what is left of the source
        # must be part of the inventory, unchanged, before it goes.
        rest = inventory.drift(source, self.inventory, ignore=self.ignore, folder_mtimes=False)
        if rest.added or rest.changed:
            return False, True, True
        inventory.remove(source)
        return True, False, True

    def apply(self, root: Path) -> Details | None:
        source, target = self._where(root)
        forced = self.undo and self.leftovers is not None
        if not forced:
            # The common case, without a lookup: the rename refuses when something is at the
            # target (the step is done, or a crash left a staged copy: settled below).
            try:
                sums = relocate(source, target)
            except (FileNotFoundError, FileExistsError):
                pass  # the source is gone or the target taken: told below
            else:
                if self.undo:
                    self._restore_own_times(target, every_folder=False)
                    self.restore_times(root)
                return {"sha256": sums} if sums is not None else None
        done, has_source, has_target = self._settle(source, target)
        if done:
            if self.undo:
                # The step may have been cut short between its move and its mtimes.
                self._restore_own_times(target, every_folder=False)
            return None
        details: Details = {}
        if not has_source:
            if not forced:
                raise StepRefused(Problem(self.src_path, "is missing"))
            self.restore_times(root)
            return {"missing": self.src}
        if has_target:
            if not forced:
                raise StepRefused(Problem(self.dst_path, NEVER_OVERWRITES))
            details["aside"] = [self._aside(root, self.dst_path)]
        set_aside = []
        if forced and not self._as_inventoried(source):
            found = inventory.drift(source, self.inventory, ignore=self.ignore)
            set_aside = [self._aside(root, self._under(self.src, r)) for r in found.topmost_added()]
            details["aside"] = details.get("aside", []) + set_aside
        sums = relocate(source, target)
        if sums is not None:
            details["sha256"] = sums
        if self.undo:
            self._restore_own_times(target, every_folder=bool(set_aside))
            self.restore_times(root)
        return details or None

    def _restore_own_times(self, target: str, *, every_folder: bool) -> None:
        # Moving entries in or out changed the top folder's mtime (and, after setting later
        # files aside, the folders they were in): put back what the inventory recorded.
        for entry in self.inventory if every_folder else (self.inventory.top,):
            if entry.kind == "d":
                path = target if entry.rel == TOP else f"{target}/{entry.rel}"
                found = inventory.entry_of(path)
                if found is not None and found.mtime_ns != entry.mtime_ns:
                    inventory.set_mtime(path, entry.mtime_ns)

    def _aside(self, root: Path, rel: PurePosixPath) -> str:
        assert self.leftovers is not None
        return set_aside(root, rel, self.leftovers)

    def verify(
        self, root: Path, details: Mapping[str, Any] | None, *, thorough: bool = False
    ) -> list[Problem]:
        source, target = self._where(root)
        copied = bool((details or {}).get("sha256"))
        # A rename moves the item whole: the same entry at its target says it is there (see
        # `_as_inventoried`), and that its source went with it.
        if not thorough and not copied and inventory.unchanged(target, self.inventory.rows[:1]):
            return []
        problems = []
        if inventory.entry_of(source) is not None:
            problems.append(Problem(self.src_path, "is still there"))
        read = self._read_drift(target) if thorough else []
        if not problems and not copied and inventory.unchanged(target, self.inventory):
            return read  # every path below it as inventoried
        if inventory.entry_of(target) is None:
            return [*problems, Problem(self.dst_path, "is missing")]
        found = inventory.drift(target, self.inventory, ignore=self.ignore)
        for rel, message in found.items("since the migration"):
            problems.append(Problem(self._under(self.dst, rel), message))
        for rel, digest in (details or {}).get("sha256", {}).items():
            path = target if rel == TOP else f"{target}/{rel}"
            entry = inventory.entry_of(path)
            if entry is not None and entry.kind == "f" and inventory.sha256_file(path) != digest:
                problems.append(
                    Problem(self._under(self.dst, rel), "checksum differs from the copy")
                )
        reported = {p.path for p in problems}
        return problems + [p for p in read if p.path not in reported]

    def _read_drift(self, target: str) -> list[Problem]:
        """Files the plan read whose bytes differ from what it read (checked by checksum)."""
        found = []
        # A plan of an earlier version has no checksums: nothing to compare then.
        for index, digest in zip(self.watch, self.watch_sha256, strict=False):
            rel = self.inventory[index].rel
            path = target if rel == TOP else f"{target}/{rel}"
            if inventory.entry_of(path) is not None and inventory.sha256_file(path) != digest:
                message = "differs from what the plan read (its index record came from that)"
                found.append(Problem(self._under(self.dst, rel), message))
        return found

    def _moving(
        self,
        src: str,
        dst: str,
        *,
        times: tuple[DirTime, ...],
        undo: bool,
        leftovers: PurePosixPath | None = None,
    ) -> _Move:
        # Built directly: dataclasses.replace costs more than the step's rename.
        return type(self)(
            src,
            dst,
            self.inventory,
            ignore=self.ignore,
            watch=self.watch,
            watch_sha256=self.watch_sha256,
            times=times,
            undo=undo,
            leftovers=leftovers,
        )

    def reverse(self) -> Op:
        return self._moving(self.dst, self.src, times=self.times, undo=not self.undo)

    def without_times(self, leftovers: PurePosixPath | None) -> Op:
        return self._moving(self.src, self.dst, times=(), undo=self.undo, leftovers=leftovers)

    def touched(self) -> set[str]:
        return {_parent(self.src), _parent(self.dst)}

    def describe(self) -> str:
        return f"move {self.src} -> {self.dst}"

    def _fields(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "src": self.src,
            "dst": self.dst,
            "inventory": self.inventory.to_json(),
        }
        if self.ignore:
            data["ignore"] = list(self.ignore)
        if self.watch:
            data["watch"] = list(self.watch)
        if self.watch_sha256:
            data["watch_sha256"] = list(self.watch_sha256)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Move:
        return cls(
            str(data["src"]),
            str(data["dst"]),
            Inventory.from_json(data["inventory"]),
            ignore=tuple(data.get("ignore", ())),
            watch=tuple(data.get("watch", ())),
            watch_sha256=tuple(data.get("watch_sha256", ())),
            **_common(data),
        )


@dataclass(frozen=True)
class MoveTree(_Move):
    """Move a folder with everything below it (renamed, or copied and verified across devices)."""

    name = "move_tree"
    kinds = frozenset({"d"})
    what = "folder"


@dataclass(frozen=True)
class MoveFile(_Move):
    """Move one file, or one symlink as a link."""

    name = "move_file"
    kinds = frozenset({"f", "l"})
    what = "file or symlink"


# -- folders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dirs(Op):
    paths: tuple[PurePosixPath, ...]  # parents before children

    def touched(self) -> set[str]:
        return {_parent(p) for p in self.paths}

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
            if names == [_LOCK_NAME]:
                os.unlink(path / _LOCK_NAME)
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


@dataclass(frozen=True)
class _File(Op):
    path: PurePosixPath
    data: str

    @property
    def payload(self) -> bytes:
        return self.data.encode("utf-8")

    def touched(self) -> set[str]:
        return {_parent(self.path)}

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
        return {_parent(self.path)}

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


# -- the run index --------------------------------------------------------------------------


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
        return {_parent(f.path) for f in self.files}

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


OP_TYPES: dict[str, type[Op]] = {
    cls.name: cls
    for cls in (
        MoveTree,
        MoveFile,
        MakeDirs,
        RemoveDirs,
        WriteFile,
        DeleteFile,
        WritePointer,
        AppendIndex,
        TruncateIndex,
    )
}


def op_from_json(data: Mapping[str, Any]) -> Op:
    """The step a `to_json` object describes."""
    kind = OP_TYPES.get(data.get("op", ""))
    if kind is None:
        raise ValueError(f"unknown migration step {data.get('op')!r}")
    return kind.from_json(data)  # type: ignore[attr-defined]


def ops_touched(ops: Iterable[Step]) -> set[str]:
    """Every folder the given steps change entries of (project-relative)."""
    found: set[str] = set()
    for op in ops:
        found |= op.touched()
    return found
