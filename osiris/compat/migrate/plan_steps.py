"""How the planner makes steps: paths relative to the project, each looked up once and
recorded (`seen`), destinations claimed once, the folders to create, the steps that move
an item with its inventory, and the plan they add up to with its fingerprint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat.legacy_files import FileRead, ReadsBelow
from osiris.compat.migrate import inventory
from osiris.compat.migrate.inventory import Entry
from osiris.compat.migrate.ops import (
    LEGACY_ARCHIVE,
    DirTime,
    MakeDirs,
    MoveFile,
    MoveTree,
    Op,
    Problem,
    parent_text,
)
from osiris.compat.migrate.saved_plan import (
    Plan,
    PlannedItem,
    fingerprint,
    step_digest,
    step_json,
)
from osiris.compat.migrate.seen import Recorder
from osiris.core.fs_paths import FilesystemContract
from osiris.core.profile_map import ProfileMap

_DOT = "."


class StepBuilder:
    """The steps of one plan as they are decided, and the plan they make."""

    def __init__(self, project: FilesystemContract, reads: Mapping[str, FileRead]) -> None:
        self.project = project
        self.root = project.base_path
        self.root_prefix = str(self.root).rstrip("/") + "/"
        self.reads = ReadsBelow(self.root, reads)
        self.read_at = reads
        self.osiris_rel = self.rel(project.osiris_dir)
        self.osiris_text = str(self.osiris_rel)
        self.archive_root = self.osiris_rel / LEGACY_ARCHIVE
        self.moves: list[Op] = []
        self.writes: list[Op] = []
        self.pointers: list[Op] = []
        self.archives: list[Op] = []
        self.items: list[PlannedItem] = []
        self.conflicts: list[Problem] = []
        # Project-relative text: thousands of steps name the same few folders, and text is
        # hashed and compared in C (a PurePosixPath, part by part in Python).
        self.dirs: set[str] = set()
        self.claimed: dict[str, str] = {}
        self.mtimes: dict[str, int | None] = {}  # plan time: nothing changes them
        self.recorder = Recorder(self.root, project.config)

    def rel(self, path: Path) -> PurePosixPath:
        """`path` relative to the root (ValueError when it lies outside)."""
        text = str(path)
        if text.startswith(self.root_prefix) and "/.." not in text:
            return PurePosixPath(text[len(self.root_prefix) :])  # asked twice per session
        return PurePosixPath(Path(path).relative_to(self.root).as_posix())

    def contract_rel(self, path: Path, src: PurePosixPath) -> PurePosixPath | None:
        """A contract destination relative to the root; a conflict when it lies outside."""
        try:
            return self.rel(path)
        except ValueError:
            self.conflicts.append(Problem(src, f"its contract home {path} is outside the project"))
            return None

    def entry(self, path: Path) -> Entry | None:
        """What is at `path`, recorded in the plan's `seen`."""
        return self.recorder.entry(path)

    def times(self, *folders: PurePosixPath | str) -> tuple[DirTime, ...]:
        # The project root and .osiris/ are left out: the migrator's own journal and lock
        # change them, so their mtimes cannot be put back.
        found = []
        for folder in dict.fromkeys(map(str, folders)):
            if folder == _DOT or folder == self.osiris_text:
                continue
            if folder not in self.mtimes:
                entry = self.recorder.at(folder)
                self.mtimes[folder] = entry.mtime_ns if entry and entry.kind == "d" else None
            mtime = self.mtimes[folder]
            if mtime is not None:
                found.append(DirTime(folder, mtime))
        return tuple(found)

    def need_dir(self, folder: PurePosixPath | str) -> None:
        text = str(folder)
        while text != _DOT and text != self.osiris_text:
            if text in self.dirs or self.recorder.at(text):
                return
            self.dirs.add(text)
            text = parent_text(text)

    def claim(self, dst: PurePosixPath | str, src: PurePosixPath | str) -> None:
        source = str(src)
        other = self.claimed.setdefault(str(dst), source)
        if other != source:
            message = f"is the destination of both {other} and {source}"
            self.conflicts.append(Problem(PurePosixPath(dst), message))

    def move(
        self,
        src: PurePosixPath,
        dst: PurePosixPath,
        *,
        skip: tuple[str, ...] = (),
        later: tuple[str, ...] = (),
    ) -> Op:
        """The step moving `src` to `dst`: its inventory is its own entry and the files the
        scan read inside it (as read: no folder below it is listed, no file opened again)."""
        source, target = str(src), str(dst)
        top = inventory.entry_of(f"{self.root}/{source}")
        rows = [top] if top is not None else []
        sums = []
        if top is not None and top.kind == "d":
            for rel, read in self.reads.under(source):
                if not skip or not inventory.under_any(rel, skip):
                    rows.append(Entry(rel, "f", read.size, read.mtime_ns, read.mode))
                    sums.append(read.sha256)
        op = (MoveTree if top is not None and top.kind == "d" else MoveFile)(
            source,
            target,
            inventory.Inventory(rows),
            times=self.times(parent_text(source), parent_text(target)),
            ignore=skip + later,
            watch=tuple(range(1, len(rows))),
            watch_sha256=tuple(sums),
        )
        self.claim(target, source)
        self.need_dir(parent_text(target))
        return op

    def archive(self, src: PurePosixPath, note: str, *, skip: tuple[str, ...] = ()) -> None:
        dst = self.archive_root / src
        self.archives.append(self.move(src, dst, skip=skip))
        self.items.append(PlannedItem("archive", str(src), str(dst), note))

    def place(
        self, kind: str, src: PurePosixPath, dst: PurePosixPath, note: str = "", **extra: Any
    ) -> None:
        self.moves.append(self.move(src, dst, **extra))
        self.items.append(PlannedItem(kind, str(src), str(dst), note))

    def assemble(
        self,
        appended: Op | None,
        left: list[PlannedItem],
        warnings: tuple[str, ...],
        profiles: ProfileMap,
    ) -> Plan:
        """The plan: folders first, then moves, writes, the index, pointers, archives."""
        ops: list[Op] = []
        if self.dirs:
            ordered = sorted(self.dirs, key=lambda p: (p.count("/"), p))
            parents = {parent_text(p) for p in ordered} - self.dirs
            # Sorted part by part, as paths sort.
            times = self.times(*sorted(parents, key=lambda p: p.split("/")))
            ops.append(MakeDirs(tuple(PurePosixPath(p) for p in ordered), times=times))
        ops += self.moves + self.writes
        if appended is not None:
            ops.append(appended)
        ops += self.pointers + self.archives
        conflicts = self.conflicts + [p for op in ops for p in op.check(self.root)]
        texts = tuple(step_json(op) for op in ops)
        digests = tuple(step_digest(text) for text in texts)
        return Plan(
            ops=tuple(ops),
            items=tuple(self.items),
            conflicts=tuple(conflicts),
            left_in_place=tuple(left),
            warnings=warnings,
            fingerprint=fingerprint(digests, conflicts, left),
            seen=self.recorder.seen(),
            profiles=profiles.describe(),
            step_texts=texts,
            digests=digests,
        )
