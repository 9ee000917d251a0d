"""Durable file writes: the only way Osiris writes project state files."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO


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
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise named(exc, path) from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, UTF-8 friendly: the one canonical JSON form."""
    return _CANONICAL.encode(value)  # one encoder: `json.dumps` makes one per call


def named(exc: OSError, path: Path | str | None) -> OSError:
    """`exc` with the file it happened to, for the one-line error (a failed `write` on an
    open file names none)."""
    if exc.filename is not None or path is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def open_regular(path: Path | str) -> BinaryIO:
    """Open a regular file for reading; a symlink, FIFO or device is an OSError, never
    followed or waited on (a run folder may hold anything)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def json_bytes(text: str) -> bytes:
    """JSON text as UTF-8. A file name that is not UTF-8 reaches Python as lone surrogates
    (os.fsdecode); inside a JSON string each becomes the escape `\\udcXX`, which reads back
    as the same surrogate, so such names round-trip exactly."""
    return text.encode("utf-8", "backslashreplace")


def name_bytes(text: str) -> bytes:
    """A text made of file names as the bytes the filesystem holds (for digests)."""
    return text.encode("utf-8", "surrogateescape")


def pretty_json(value: Any) -> str:
    """Deterministic indented JSON (sorted keys) with a trailing newline, for build files."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def append_sealed(handle: BinaryIO, payload: bytes) -> None:
    """Append `payload` to a file open for appending, ending a torn last line first (a
    crash's torn bytes stay one damaged line instead of swallowing the first new record)."""
    end = handle.seek(0, os.SEEK_END)
    if end:
        handle.seek(end - 1)
        if handle.read(1) != b"\n":
            payload = b"\n" + payload
    handle.write(payload)
    handle.flush()


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
        try:
            for path, records in batches.items():
                payload = json_bytes("".join(canonical_json(r) + "\n" for r in records))
                if not payload:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(path, "a+b")  # noqa: SIM115 - closed in the finally below
                handles.append((handle, handle.seek(0, os.SEEK_END)))
                append_sealed(handle, payload)
            if fsync:
                # fdatasync persists the data and the new size, which is all an append needs.
                sync = getattr(os, "fdatasync", os.fsync)
                for handle, _ in handles:
                    sync(handle.fileno())
        except OSError as exc:
            # A full disk (or any failed write) must leave no torn or partial record behind:
            # every file goes back to its size before this append.
            for handle, end in handles:
                with contextlib.suppress(OSError):
                    handle.truncate(end)
            failed = Path(handles[-1][0].name) if handles else next(iter(batches), None)
            raise named(exc, failed) from exc
    finally:
        for handle, _ in handles:
            handle.close()
