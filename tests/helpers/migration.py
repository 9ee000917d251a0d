"""Helpers for migrator tests: the project state a rollback must restore, and contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osiris.core.fs_config import build_config
from osiris.core.fs_paths import FilesystemContract
from tests.helpers.tree import FileInfo, snapshot

# What a migration legitimately leaves behind after a rollback: its journal (the record of
# the rollback), the project lock file, and the index lock file (process state, not data).
MIGRATOR_STATE = (".osiris/migrations", ".osiris/lock", ".osiris/index/.lock")


def project_state(root: Path) -> dict[str, FileInfo]:
    """Every path of the project but the migrator's own state; `.osiris` itself is left out
    because the journal and the lock change it."""
    found = snapshot(root, ignore=MIGRATOR_STATE)
    found.pop(".osiris", None)
    return found


def contract(root: Path, **filesystem: Any) -> FilesystemContract:
    """A contract with default settings (or the given `filesystem` keys) rooted at `root`."""
    config, _ = build_config({"filesystem": filesystem}, config_file=None, env={})
    return FilesystemContract(config, root)
