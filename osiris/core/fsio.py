"""Durable file writes: the only way Osiris writes project state files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a crash."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform/filesystem
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int | None = None, durable: bool = True
) -> None:
    """Write `data` to `path` so readers see either the old or the new bytes, never a mix.

    `durable=False` skips the syncs, for files that are rebuilt from others (a mirror).
    """
    import tempfile  # with shutil, bz2, lzma and random: ~5 ms readers need not pay

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644 if mode is None else mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, UTF-8 friendly: the one canonical JSON form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pretty_json(value: Any) -> str:
    """Deterministic indented JSON (sorted keys) with a trailing newline, for build files."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def append_jsonl(path: Path, records: Iterable[dict[str, Any]], *, fsync: bool = True) -> None:
    """Append one compact JSON line per record in a single write, then flush (and sync)."""
    append_jsonl_files({Path(path): list(records)}, fsync=fsync)


def append_jsonl_files(batches: dict[Path, list[dict[str, Any]]], *, fsync: bool = True) -> None:
    """Append records to several JSONL files: write every file first, then sync them all.

    Syncing after all writes lets one journal commit cover every file (ext4 ordered mode),
    which roughly halves the cost of a durable two-file append. A crash can leave a torn
    last line without its newline; it is ended first, so the torn bytes stay one damaged
    line instead of swallowing the records appended after them.
    """
    handles = []
    try:
        for path, records in batches.items():
            payload = "".join(canonical_json(r) + "\n" for r in records).encode("utf-8")
            if not payload:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115 - closed in the finally below
            handles.append(handle)
            end = handle.seek(0, os.SEEK_END)
            if end:
                handle.seek(end - 1)
                if handle.read(1) != b"\n":
                    payload = b"\n" + payload
            handle.write(payload)
            handle.flush()
        if fsync:
            # fdatasync persists the data and the new size, which is all an append needs.
            sync = getattr(os, "fdatasync", os.fsync)
            for handle in handles:
                sync(handle.fileno())
    finally:
        for handle in handles:
            handle.close()
