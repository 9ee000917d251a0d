"""The receipt of an applied migration: `.osiris/migrations/<id>/receipt.json`.

`apply` writes it once its end verification passed, before it records the migration as
applied: for each step, the step that undoes it, checked against the state the apply left
rather than against the plan's inventories. A moved item is named with its own entry and
the mtime its legacy folder had right after the apply; an index append with each file's
size and mtime after it; any other step is its plain undo step.

`rollback` of a migration applied whole reads the receipt, a small part of the plan, and
when every step's check passes (one lookup per moved item, one per folder) undoes from it.
When anything differs, with `--force`, or to finish an interrupted rollback, it uses the
full plan instead, which stays the reference and names what changed. A missing or damaged
receipt therefore only costs time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, NamedTuple

from osiris.compat.migrate import inventory
from osiris.compat.migrate.ops import (
    NEVER_OVERWRITES,
    NOT_NAMES,
    AppendIndex,
    Details,
    DirTime,
    IndexFile,
    MoveFile,
    MoveTree,
    Op,
    Problem,
    Step,
    StepRefused,
    op_from_json,
    parent_text,
    relocate,
    restore_prior,
    times_from_json,
    usable_path,
)
from osiris.core.fsio import atomic_write_bytes
from osiris.core.gc_pause import gc_paused
from osiris.core.lock import file_lock

RECEIPT = "receipt.json"
FORMAT = 1


def _folder_mtime(root: Path, rel: str) -> int | None:
    """A folder's mtime now (memoized within a `remembered` block); None: not a folder."""
    found = inventory.entry_of(f"{root}/{rel}")
    return found.mtime_ns if found is not None and found.kind == "d" else None


def _move_back_row(
    src: str, dst: str, entry: Sequence[Any], mtime_ns: int, folder_mtime_ns: int | None
) -> list[Any]:
    """A `MoveBack` as its JSON row (`MoveBack.from_row` reads it), built without the step."""
    return [src, dst, *entry[1:], mtime_ns, folder_mtime_ns]


class _MoveChecks:
    """`MoveBack.check` for the many moves of one receipt: what is asked of their folders
    (usable paths, the legacy folder's mtime) is answered once per pair of folders, and
    each item costs one lstat.

    A folder's mtime changes whenever an entry is added to it, so while the legacy folder
    has its after-apply mtime nothing can be at the item's legacy path.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.top = str(root)
        # ("/name" and "name" differ by the slash) -> (both usable, the legacy folder's mtime)
        self.folders: dict[tuple[str, str, str, str], tuple[bool, int | None]] = {}

    def problem(self, move: MoveBack) -> Problem | None:
        src, dst, kind, size, left_mtime_ns, mode, target, _, folder_mtime_ns = move
        src_folder, src_slash, src_name = src.rpartition("/")
        legacy_folder, dst_slash, dst_name = dst.rpartition("/")
        key = (src_folder, src_slash, legacy_folder, dst_slash)
        found = self.folders.get(key)
        if found is None:
            usable = usable_path(self.root, src) and usable_path(self.root, dst)
            mtime = _folder_mtime(self.root, legacy_folder or ".") if usable else None
            found = self.folders[key] = (usable, mtime)
        usable, legacy_mtime = found
        if not usable or src_name in NOT_NAMES or dst_name in NOT_NAMES:
            return Problem(PurePosixPath(src), "cannot be moved back without a check")
        if not inventory.same(f"{self.top}/{src}", kind, size, left_mtime_ns, mode, target):
            return Problem(PurePosixPath(src), "changed since the migration", True)
        if folder_mtime_ns is not None and legacy_mtime == folder_mtime_ns:
            return None
        if inventory.entry_of(f"{self.top}/{dst}") is not None:
            return Problem(PurePosixPath(dst), NEVER_OVERWRITES, True)
        return None


class MoveBack(NamedTuple):
    """Move an item back to its legacy path while it is as the apply left it.

    A named tuple of the receipt's row as it stands: a receipt holds one per moved item,
    and making a tuple of a row is the cheapest step to build."""

    src: str  # where the apply put it
    dst: str  # its legacy path
    # Its own entry as the apply left it (an `Entry` without its `rel`):
    kind: str
    size: int
    left_mtime_ns: int
    mode: int
    target: str | None
    mtime_ns: int  # its own mtime as the plan recorded it, put back
    folder_mtime_ns: int | None  # the mtime of dst's folder right after the apply

    def check(self, root: Path) -> list[Problem]:
        """What blocks moving it back: a changed item, or something at its legacy path."""
        problem = _MoveChecks(root).problem(self)
        return [problem] if problem is not None else []

    def apply(self, root: Path) -> Details | None:
        source, target = f"{root}/{self.src}", f"{root}/{self.dst}"
        try:
            sums = relocate(source, target)
        except (FileNotFoundError, FileExistsError):
            if self.is_applied(root):
                return None
            raise StepRefused(
                Problem(PurePosixPath(self.src), "changed while the rollback ran")
            ) from None
        # A receipt is written only after the apply's end verification found every renamed
        # item with its planned mtime: this filesystem keeps a moved item's own mtime, so
        # the rename back keeps it too. An item the apply left with another mtime (a step
        # wrote into it) or copied across devices gets its planned one put back.
        if sums is not None or self.left_mtime_ns != self.mtime_ns:
            inventory.set_mtime(target, self.mtime_ns)
        return {"sha256": sums} if sums is not None else None

    def is_applied(self, root: Path) -> bool:
        return (
            inventory.entry_of(f"{root}/{self.src}") is None
            and inventory.entry_of(f"{root}/{self.dst}") is not None
        )

    def touched(self) -> set[str]:
        # Inline `parent_text`: asked once per moved item.
        return {self.src.rpartition("/")[0] or ".", self.dst.rpartition("/")[0] or "."}

    def describe(self) -> str:
        return f"move {self.src} -> {self.dst}"

    @classmethod
    def from_row(cls, row: list[Any]) -> MoveBack:
        """The step of a receipt row; TypeError for a row of another length, or one whose
        paths or planned mtime (what the rename and the mtime put back use) have the wrong
        type. The other fields are only compared, so a wrong one cannot crash the rollback."""
        step = cls._make(row)
        if type(step.src) is not str or type(step.dst) is not str or type(step.mtime_ns) is not int:
            raise TypeError(f"not a receipt row: {row!r}")
        return step


@dataclass(frozen=True)
class IndexAfter:
    """An index file as the apply left it, and the prior state to cut it back to."""

    path: str
    existed: bool
    prior_size: int
    prior_mtime_ns: int | None
    size: int
    mtime_ns: int

    def as_left(self, root: Path) -> bool:
        found = inventory.entry_of(f"{root}/{self.path}")
        return (
            found is not None
            and found.kind == "f"
            and (found.size, found.mtime_ns) == (self.size, self.mtime_ns)
        )

    def restored(self, root: Path) -> bool:
        found = inventory.entry_of(f"{root}/{self.path}")
        if not self.existed:
            return found is None
        return found is not None and found.size == self.prior_size


@dataclass(frozen=True)
class CutIndex:
    """Cut the index files back to their prior bytes while they are as the apply left them
    (a record appended since changes size and mtime: the full plan's step then decides)."""

    name: ClassVar[str] = "cut_index"
    lock: str
    files: tuple[IndexAfter, ...]

    def check(self, root: Path) -> list[Problem]:
        return [
            Problem(PurePosixPath(f.path), "changed since the migration", True)
            for f in self.files
            if not usable_path(root, f.path) or not f.as_left(root)
        ]

    def apply(self, root: Path) -> Details | None:
        with file_lock(Path(f"{root}/{self.lock}")):
            for spec in self.files:
                if spec.restored(root):
                    continue
                if not spec.as_left(root):
                    message = "changed while the rollback ran"
                    raise StepRefused(Problem(PurePosixPath(spec.path), message))
                path = Path(f"{root}/{spec.path}")
                restore_prior(path, spec.existed, spec.prior_size, spec.prior_mtime_ns)
        return None

    def touched(self) -> set[str]:
        return {parent_text(f.path) for f in self.files}

    def describe(self) -> str:
        names = ", ".join(f.path for f in self.files)
        return f"remove the migrated run records from {names}"

    def to_json(self) -> dict[str, Any]:
        return {"op": self.name, "lock": self.lock, "files": [vars(f) for f in self.files]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CutIndex:
        return cls(str(data["lock"]), tuple(IndexAfter(**f) for f in data["files"]))


@dataclass(frozen=True)
class Receipt:
    """Each step's undo step (by step index) and the plan-time folder mtimes to put back."""

    undos: dict[int, Step]
    times: dict[int, tuple[DirTime, ...]]

    def holds(self, root: Path) -> bool:
        """True when every undo step passes its check now."""
        with inventory.remembered():
            moves = _MoveChecks(root)
            return not any(
                moves.problem(step) if type(step) is MoveBack else step.check(root)
                for step in self.undos.values()
            )


def _undo_json(root: Path, op: Op, details: Mapping[str, Any] | None) -> dict[str, Any] | list[Any]:
    """The JSON of the step undoing an applied `op`, checked against the state now."""
    if isinstance(op, (MoveTree, MoveFile)):
        planned = op.inventory.rows[0]
        left: Sequence[Any] = planned
        if op.ignore or (details and details.get("sha256")):
            # Other steps wrote into it, or it was copied: as it is now. Else the end
            # verification just found it as planned.
            left = inventory.entry_of(f"{root}/{op.dst}") or planned
        folder_mtime = _folder_mtime(root, parent_text(op.src))
        planned_mtime_ns = planned[3]  # a row holds an Entry's fields in order
        return _move_back_row(op.dst, op.src, left, planned_mtime_ns, folder_mtime)
    if isinstance(op, AppendIndex):
        files = [_index_after(root, spec) for spec in op.files]
        if all(files):
            return CutIndex(str(op.lock), tuple(f for f in files if f)).to_json()
    # Anything else (or an index file gone since the verification) as its plain undo step.
    return op.reverse().without_times(None).to_json()


def _index_after(root: Path, spec: IndexFile) -> IndexAfter | None:
    found = inventory.entry_of(f"{root}/{spec.path}")
    if found is None:
        return None
    prior = (spec.existed, spec.prior_size, spec.prior_mtime_ns)
    return IndexAfter(str(spec.path), *prior, found.size, found.mtime_ns)


def write_receipt(
    folder: Path,
    fingerprint: str,
    ops: tuple[Op, ...],
    done: Mapping[int, Mapping[str, Any] | None],
    root: Path,
) -> None:
    """Write the receipt of plan `fingerprint`, every step applied and verified, `done`
    holding what the journal kept of them (atomically, fsynced)."""
    with inventory.remembered():
        steps = [_undo_json(root, op, done.get(i)) for i, op in enumerate(ops)]
    # The plan-time folder mtimes, once each; a step names them by their place in `folders`.
    folders: dict[DirTime, int] = {}
    times = [[folders.setdefault(t, len(folders)) for t in op.times] for op in ops]
    data = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "steps": steps,
        "folders": [list(t) for t in folders],
        "times": times,
    }
    # Not fsynced: a receipt lost or torn by a crash fails to load and the plan answers.
    text = json.dumps(data) + "\n"  # ASCII escapes: names that are not UTF-8 stay exact
    atomic_write_bytes(folder / RECEIPT, text.encode("utf-8"), durable=False)


def _step_from_json(data: Mapping[str, Any] | list[Any]) -> Step:
    if isinstance(data, list):
        return MoveBack.from_row(data)
    if data.get("op") == CutIndex.name:
        return CutIndex.from_json(data)
    return op_from_json(data)


@gc_paused
def read_receipt(folder: Path, fingerprint: str) -> Receipt | None:
    """The receipt of the migration of plan `fingerprint`; None when there is none or it
    cannot be read (the plan then answers)."""
    try:
        data = json.loads((folder / RECEIPT).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("fingerprint") != fingerprint:
            return None
        steps = data["steps"]
        undos = {i: _step_from_json(steps[i]) for i in reversed(range(len(steps)))}
        folders = times_from_json(data["folders"])
        named: dict[tuple[int, ...], tuple[DirTime, ...]] = {}
        times = {}
        for i, places in enumerate(data["times"]):
            key = tuple(places)
            if key not in named:
                named[key] = tuple(folders[k] for k in key)
            times[i] = named[key]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
    return Receipt(undos, times)
