"""Finding and reading `osiris.yaml`, without pydantic.

The rules here are shared by the full, validated configuration (`fs_config`) and by the
light folder lookup of read-only commands (`run_sources.light_dirs`), which must start in
well under the ~150 ms that importing pydantic costs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from osiris.errors import ConfigError, ProjectNotFound

CONFIG_FILENAME = "osiris.yaml"
BASE_PATH_ENVS = ("OSIRIS_FILESYSTEM_BASE", "OSIRIS_BASE_PATH")  # the primary name first
# Environment variable -> dotted key it overrides (contract.md §2).
ENV_OVERRIDES: dict[str, str] = {
    "OSIRIS_PROFILE": "filesystem.profiles.default",
    "OSIRIS_FILESYSTEM_BASE": "filesystem.base_path",
    "OSIRIS_BASE_PATH": "filesystem.base_path",
    "OSIRIS_RUN_ID_FORMAT": "ids.run_id_format",
    "OSIRIS_RETENTION_RUN_LOGS_DAYS": "filesystem.retention.run_logs_days",
    "OSIRIS_FS_CONTRACT": "compat.mode",
}
# Osiris's own folder under base_path, and where migrations keep their journals in it.
OSIRIS_DIR = ".osiris"
MIGRATIONS_DIR = f"{OSIRIS_DIR}/migrations"
LAST_COMPILE_POINTER = "last_compile.txt"  # in the index folder
DEFAULT_DIRS = {
    "pipelines_dir": "pipelines",
    "build_dir": "build",
    "aiop_dir": "aiop",
    "run_logs_dir": "run_logs",
    "sessions_dir": ".osiris/sessions",
    "cache_dir": ".osiris/cache",
    "index_dir": ".osiris/index",
}


def find_config_file(start: Path) -> Path | None:
    """Search `start` and its parents for `osiris.yaml`, as git searches for `.git`."""
    current = Path(start).resolve()
    for folder in (current, *current.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


def locate_config_file(project: Path | None, cwd: Path | None = None) -> Path | None:
    """`--project DIR`'s osiris.yaml (None when it has none), else the upward search from cwd."""
    if project is None:
        return find_config_file(Path(cwd or Path.cwd()))
    if not Path(project).is_dir():
        raise ProjectNotFound(
            "no such folder", path=project, hint="--project takes the folder holding osiris.yaml"
        )
    candidate = Path(project).resolve() / CONFIG_FILENAME
    return candidate if candidate.is_file() else None


def read_config_file(path: Path, *, cached: bool = False) -> dict[str, Any]:
    """Parse `osiris.yaml`; an empty file is an empty mapping.

    `cached`: look the file up in the per-user cache first (`config_cache`; a hit gives
    exactly what parsing gives, without importing PyYAML) and keep what is parsed there.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", path=path) from exc
    if cached:
        from osiris.core import config_cache

        hit = config_cache.load(path, text)
        if hit is not None:
            return hit
    data = _parse(text, path)
    if cached:
        config_cache.store(path, text, data)
    return data


def _parse(text: str, path: Path) -> dict[str, Any]:
    import yaml  # ~20 ms, only paid by commands that read a project

    from osiris.core import yaml_load

    try:
        data = yaml_load.load(text)
    except yaml_load.YamlRefused as exc:
        raise ConfigError(f"refused: the file {exc}", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"not valid YAML{where}",
            path=path,
            hint="fix the syntax, then run `osiris config validate`",
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"the top level must be a mapping, not {type(data).__name__}",
            path=path,
            hint="see docs/samples/osiris.filesystem.yaml",
        )
    return data


def base_path_override(env: Mapping[str, str]) -> str | None:
    """`OSIRIS_FILESYSTEM_BASE` (or its alias `OSIRIS_BASE_PATH`) when set and not empty."""
    return next((env[name] for name in BASE_PATH_ENVS if env.get(name, "") != ""), None)


def resolve_base_path(raw: str, project_dir: Path) -> Path:
    """`filesystem.base_path`: empty = the folder holding osiris.yaml; relative resolves there."""
    raw = raw.strip()
    if not raw:
        return project_dir
    candidate = Path(os.path.expanduser(raw))
    if not candidate.is_absolute():
        candidate = project_dir / candidate
    return Path(os.path.normpath(candidate))


def base_path_problem(base_path: Path, project_dir: Path) -> str | None:
    """Why a base path written in osiris.yaml cannot be what the user means, or None."""
    if not base_path.is_dir():
        return f"{base_path} does not exist (was the project moved?)"
    try:
        base_path.resolve().relative_to(project_dir.resolve())
    except ValueError:
        return f"{base_path} is outside this project: every command reads and writes there"
    return None


def folder_problem(value: str) -> str | None:
    """Why a configured folder is unusable (it must be a folder inside the project), or None."""
    relative = os.path.normpath(value.strip()) if value.strip() else "."
    if relative in {".", ".."} or relative.startswith("../"):
        return "must name a folder inside the project"
    return None
