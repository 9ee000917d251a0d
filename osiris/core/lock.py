"""Advisory file locks (flock) for the index and the project."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from osiris.errors import LockBusy, NotFound

INDEX_LOCK_NAME = ".lock"  # `.osiris/index/.lock`: process state, never data


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
            raise _busy(lock_path) from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def project_lock_path(osiris_dir: Path) -> Path:
    """`.osiris/lock`, the project-wide lock of the migrator and other bulk writers."""
    return Path(osiris_dir) / "lock"


def project_lock(osiris_dir: Path, *, wait: bool = True):
    """Hold the project-wide lock for the block.

    `.osiris/` is made when missing, never the project folder holding it: a project whose
    `filesystem.base_path` names a folder that is gone (a project moved from another
    machine) gets nothing written there (NotFound)."""
    project = Path(osiris_dir).parent
    if not project.is_dir():
        raise NotFound(
            "no such project folder; nothing was changed",
            path=project,
            hint="check filesystem.base_path in osiris.yaml, or set OSIRIS_FILESYSTEM_BASE",
        )
    return file_lock(project_lock_path(osiris_dir), wait=wait)


def refuse_if_held(lock_path: Path) -> None:
    """Raise `LockBusy` at once when another process holds `lock_path`; creates nothing.

    For commands that would otherwise do seconds of work (planning a migration) before
    taking the lock only to find it held."""
    try:
        handle = open(lock_path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return  # no lock file: nobody holds it (a holder creates it)
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise _busy(lock_path) from exc
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _busy(lock_path: Path) -> LockBusy:
    return LockBusy(
        "another osiris process holds this lock",
        path=lock_path,
        hint="wait for it to finish, then try again",
    )
