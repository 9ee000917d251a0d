"""Steps that move a legacy folder or file to its contract home (renamed, or copied and
verified across devices), and back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from osiris.compat.migrate import inventory
from osiris.compat.migrate.inventory import TOP, Inventory
from osiris.compat.migrate.ops.base import (
    NEVER_OVERWRITES,
    Details,
    DirTime,
    Op,
    Problem,
    StepRefused,
    _common,
    _outside,
    _tmp,
    parent_text,
    relocate,
    set_aside,
    unsafe,
    usable_path,
)


@dataclass(frozen=True)
class _Move(Op):
    # Project-relative paths as text: a plan loads a step per session, and building path
    # objects for them cost more than the steps' renames.
    src: str
    dst: str
    # Its own entry first, then the files the plan read inside it (a tuple of entries is
    # taken too; a plan of an earlier version listed every path below it).
    inventory: Inventory
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
        an unchanged mtime says its own entries are the ones planned. Everything deeper
        moves with the folder whatever it holds, so nothing there can be lost.
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
        if self.undo and not self._as_inventoried(source, read_too=True):
            # An undo step must not carry later changes into the legacy layout unnoticed; a
            # forward step moves its source as it is (the plan's fingerprint guards staleness).
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
        folder = parent_text(self.dst)
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
        # A verified copy whose source removal was cut short: what is left of the source
        # must be in the copy, unchanged, before it goes.
        if not inventory.covers(target, source):
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
                    self._restore_own_times(target)
                    self.restore_times(root)
                return {"sha256": sums} if sums is not None else None
        done, has_source, has_target = self._settle(source, target)
        if done:
            if self.undo:
                # The step may have been cut short between its move and its mtimes.
                self._restore_own_times(target)
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
        changed = (
            forced
            and not self._as_inventoried(source, read_too=True)
            and bool(inventory.drift(source, self.inventory, ignore=self.ignore))
        )
        if changed:
            # Changed after the migration: it goes back whole, the changes with it (what it
            # holds is never split), and is reported; its mtime stays the changed one.
            details["kept"] = [self.dst]
        sums = relocate(source, target)
        if sums is not None:
            details["sha256"] = sums
        if self.undo:
            if not changed:
                self._restore_own_times(target)
            self.restore_times(root)
        return details or None

    def _restore_own_times(self, target: str) -> None:
        # Moving entries in or out (other steps' paths) changed the top folder's mtime: put
        # back what the inventory recorded.
        top = self.inventory.top
        if top.kind == "d":
            found = inventory.entry_of(target)
            if found is not None and found.mtime_ns != top.mtime_ns:
                inventory.set_mtime(target, top.mtime_ns)

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
        return {parent_text(self.src), parent_text(self.dst)}

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
