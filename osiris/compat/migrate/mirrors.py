"""Dual-write mirrors (compat.md §1): legacy copies of contract files named by index records.

A record names its mirror in `extra.legacy_mirror`, either as a string (the legacy folder
mirroring the record's `run_logs_path`) or as a mapping `{contract path: legacy path}` of
files or folders. Paths are relative to the project (absolute ones are used as they are).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from osiris.compat.migrate import inventory
from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_index import RunIndexReader, RunRecord

MIRROR_KEY = "legacy_mirror"


@dataclass(frozen=True)
class MirrorPair:
    """One contract original and its legacy mirror, for the run that wrote them."""

    run_id: str
    original: str | None  # None: the record names no run folder to compare with
    mirror: str


def _pairs(record: RunRecord) -> Iterator[MirrorPair]:
    named = record.extra.get(MIRROR_KEY)
    if isinstance(named, str):
        yield MirrorPair(record.run_id, record.run_logs_path, named)
    elif isinstance(named, dict):
        for original, mirror in named.items():
            if isinstance(original, str) and isinstance(mirror, str):
                yield MirrorPair(record.run_id, original, mirror)


def mirror_pairs(project: FilesystemContract) -> list[MirrorPair]:
    """Every mirror the run index names."""
    reader = RunIndexReader(project.index_dir, project.base_path)
    return [pair for record in reader.query() for pair in _pairs(record)]


def _inside(stored: str) -> bool:
    path = PurePosixPath(stored.replace("\\", "/"))
    return not path.is_absolute() and ".." not in path.parts


def _same_file(a: Path, b: Path) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True  # a hard link (compat.md §1 prefers them): the same bytes by definition
    return sa.st_size == sb.st_size and inventory.sha256_file(a) == inventory.sha256_file(b)


def divergence(root: Path, pair: MirrorPair) -> list[str]:
    """How a mirror differs from its original: files missing from it or with other bytes."""
    if pair.original is None:
        return []
    outside = [p for p in (pair.original, pair.mirror) if not _inside(p)]
    if outside:
        return [f"{outside[0]}: outside the project; never read"]
    original, mirror = root / pair.original, root / pair.mirror
    if inventory.entry_of(original) is None:
        return []  # the original was pruned by retention; nothing to compare
    if inventory.entry_of(mirror) is None:
        return [f"{pair.mirror}: mirror missing"]
    found = []
    for entry in inventory.take(original):
        if entry.kind != "f":
            continue
        copy = mirror if entry.rel == inventory.TOP else mirror / entry.rel
        shown = pair.mirror if entry.rel == inventory.TOP else f"{pair.mirror}/{entry.rel}"
        copied = inventory.entry_of(copy)
        if copied is None or copied.kind != "f":
            found.append(f"{shown}: missing from the mirror")
        elif not _same_file(original if entry.rel == inventory.TOP else original / entry.rel, copy):
            found.append(f"{shown}: differs from {pair.original}")
    return found
