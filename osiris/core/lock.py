"""Advisory file locks (flock) for the index and the project."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from osiris.errors import LockBusy


@contextmanager
def file_lock(lock_path: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` (created if missing) for the block.

    With `wait=False` a held lock raises `LockBusy` at once instead of blocking.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError as exc:
            raise LockBusy(
                "another osiris process holds this lock",
                path=lock_path,
                hint="wait for it to finish, then try again",
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def project_lock(osiris_dir: Path, *, wait: bool = True):
    """The project-wide lock (`.osiris/lock`) taken by the migrator and other bulk writers."""
    return file_lock(Path(osiris_dir) / "lock", wait=wait)
