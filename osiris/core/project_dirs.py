"""The folders a run reader needs, from the full configuration or read light for speed.

`light_dirs` reads them straight from `osiris.yaml` (`config_file`), so that read-only
commands start without the configuration's model and tolerate a mistake in keys they do
not use; `ProjectDirs.from_contract` takes them from a loaded
`FilesystemContract`. Re-exported by `run_sources`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from osiris.core.config_file import (
    BASE_PATH_ENVS,
    DEFAULT_DIRS,
    ENV_OVERRIDES,
    LAST_COMPILE_POINTER,
    MIGRATIONS_DIR,
    OSIRIS_DIR,
    base_path_override,
    base_path_problem,
    folder_problem,
    locate_config_file,
    read_config_file,
    resolve_base_path,
)
from osiris.errors import OsirisError

if TYPE_CHECKING:
    from osiris.core.fs_paths import FilesystemContract


# -- the project's folders ----------------------------------------------------------------


class ProjectHome(Protocol):
    """What rolling a migration back needs of a project (`FilesystemContract` or, read
    without pydantic, `ProjectDirs`): its folders and how it stores paths."""

    @property
    def base_path(self) -> Path: ...
    @property
    def index_dir(self) -> Path: ...
    @property
    def osiris_dir(self) -> Path: ...
    @property
    def migrations_dir(self) -> Path: ...
    @property
    def last_compile_pointer(self) -> Path: ...
    def relative(self, path: Path) -> str: ...


def project_relative(base_path: Path, path: Path) -> str:
    """A project path as the POSIX string the index and pointers store (absolute when it
    lies outside the project)."""
    try:
        return PurePosixPath(Path(path).relative_to(base_path)).as_posix()
    except ValueError:
        return Path(path).as_posix()


# The keys of `FilesystemConfig` a reader needs: read here without validating the rest.
_READER_DIRS = ("index_dir", "run_logs_dir", "aiop_dir")


@dataclass(frozen=True)
class ProjectDirs:
    """The folders a reader needs: from the full configuration, or read light for speed."""

    base_path: Path
    index_dir: Path
    run_logs_dir: Path
    aiop_dir: Path
    read_fallback: bool = True

    @property
    def osiris_dir(self) -> Path:
        return self.base_path / OSIRIS_DIR

    @property
    def migrations_dir(self) -> Path:
        """Where `osiris migrate` keeps its journals (`FilesystemContract.migrations_dir`)."""
        return self.base_path / MIGRATIONS_DIR

    @property
    def last_compile_pointer(self) -> Path:
        return self.index_dir / LAST_COMPILE_POINTER

    def relative(self, path: Path) -> str:
        return project_relative(self.base_path, path)

    @classmethod
    def from_contract(cls, contract: FilesystemContract) -> ProjectDirs:
        return cls(
            base_path=contract.base_path,
            index_dir=contract.index_dir,
            run_logs_dir=contract.run_logs_dir,
            aiop_dir=contract.aiop_dir,
            read_fallback=contract.config.compat.read_fallback,
        )


def light_dirs(
    project: Path | None, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> ProjectDirs | None:
    """The reader's folders straight from `osiris.yaml`, validating only the keys they use.

    Gives the same folders as the full configuration, or None whenever anything is unusual
    (no project, a damaged file, a value of the wrong type): the caller then loads the full
    configuration, which reports the problem.
    """
    env = os.environ if env is None else env
    if any(env.get(var) for var in ENV_OVERRIDES if var not in BASE_PATH_ENVS):
        return None  # an override must be validated, and only the full loader does that
    try:
        config_file = locate_config_file(project, cwd)
        data = read_config_file(config_file, cached=True) if config_file else None
    except OsirisError:
        return None
    if data is None or config_file is None:  # no file, no data
        return None
    filesystem = data.get("filesystem") or {}
    compat = data.get("compat") or {}
    if not isinstance(filesystem, dict) or not isinstance(compat, dict):
        return None
    base = base_path_override(env)
    values = {key: filesystem.get(key) or DEFAULT_DIRS[key] for key in _READER_DIRS}
    values["base_path"] = filesystem.get("base_path") or "" if base is None else base
    fallback = compat.get("read_fallback")
    fallback = True if fallback is None else fallback
    if not all(isinstance(v, str) for v in values.values()) or not isinstance(fallback, bool):
        return None
    if any(folder_problem(values[key]) for key in _READER_DIRS):
        return None
    base_path = resolve_base_path(values["base_path"], config_file.parent)
    if base is None and values["base_path"] and base_path_problem(base_path, config_file.parent):
        return None  # the full loader warns about it
    dirs = {key: _dir_root(base_path, values[key]) for key in _READER_DIRS}
    return ProjectDirs(base_path=base_path, read_fallback=fallback, **dirs)


def _dir_root(base_path: Path, configured: str) -> Path:
    # As FilesystemContract does: absolute folders as they are, others under base_path.
    if Path(configured).is_absolute():
        return Path(os.path.normpath(configured))
    return Path(os.path.normpath(base_path / configured))
