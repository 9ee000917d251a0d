"""Resolving `osiris.yaml` (contract.md §2): defaults, file, env overrides, flags, base_path.

The keys and their rules are in `config_model`.

Precedence for every key, lowest first: default < file < environment < command-line flag.
Each resolved key remembers where its value came from, for `osiris config show`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from osiris.core import config_cache
from osiris.core.config_file import (
    BASE_PATH_ENVS,
    CONFIG_FILENAME,
    ENV_OVERRIDES,
    base_path_problem,
    locate_config_file,
    read_config_file,
    resolve_base_path,
)
from osiris.core.config_keys import UPSTREAM_KEYS, did_you_mean, unknown_keys
from osiris.core.config_model import OsirisConfig, from_validated
from osiris.errors import ConfigError, ConfigProblems, ProjectNotFound


@dataclass(frozen=True)
class ResolvedConfig:
    """A validated configuration, the project it belongs to, and each key's origin."""

    config: OsirisConfig
    base_path: Path
    config_file: Path | None
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def project_dir(self) -> Path:
        """The folder holding osiris.yaml (the base path when there is no file)."""
        return self.config_file.parent if self.config_file else self.base_path

    def origin(self, dotted_key: str) -> str:
        return self.origins.get(dotted_key, "default")

    def resolve_profile(self, requested: str | None = None) -> str | None:
        """The profile a command uses: the flag, else the (env/file) default; None if disabled."""
        profiles = self.config.filesystem.profiles
        if not profiles.enabled:
            if requested:
                raise ConfigError(
                    f"profiles are disabled, so '--profile {requested}' cannot be used",
                    path=self._display_file(),
                    key="filesystem.profiles.enabled",
                    hint="set it to true or drop --profile",
                )
            return None
        profile = requested or profiles.default
        if profile not in profiles.values:
            raise ConfigError(
                f"Unknown profile '{profile}'. Allowed profiles: {', '.join(profiles.values)} "
                "(filesystem.profiles.values).",
                path=self._display_file(),
            )
        return profile

    def _display_file(self) -> str:
        return str(self.config_file) if self.config_file else CONFIG_FILENAME

    def base_path_problem(self) -> ConfigError | None:
        """Why the base path that osiris.yaml names is likely a mistake: it is missing (a
        moved project: upstream 0.5.x wrote absolute ones) or outside the project. A base
        path given in the environment was asked for and is never questioned."""
        if self.origin("filesystem.base_path") != "file":
            return None
        problem = base_path_problem(self.base_path, self.project_dir)
        if problem is None:
            return None
        return ConfigError(
            problem,
            path=self._display_file(),
            key="filesystem.base_path",
            hint=f'set it to "" to use the folder holding {CONFIG_FILENAME} '
            f"({self.project_dir}), or set {BASE_PATH_ENVS[0]} for one command",
        )


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def build_config(
    file_data: Mapping[str, Any],
    *,
    config_file: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
) -> tuple[OsirisConfig, dict[str, str]]:
    """Merge file, environment and flags over the defaults and validate the result.

    A key written without a value (`key:` is YAML null) counts as not set, and so does an
    empty environment variable.
    """
    merged = _without_nulls(file_data)
    _refuse_unknown_keys(merged, config_file)
    origins = {key: "file" for key in _flatten_dict(merged)}
    for var, dotted in ENV_OVERRIDES.items():
        if var == "OSIRIS_BASE_PATH" and env.get("OSIRIS_FILESYSTEM_BASE", "") != "":
            continue  # the primary name wins over its alias
        if env.get(var, "") != "":
            _set_dotted(merged, dotted, env[var])
            origins[dotted] = f"env {var}"
    for dotted, value in (flags or {}).items():
        if value is not None:
            _set_dotted(merged, dotted, value)
            origins[dotted] = "flag"
    return _validated(merged, origins, config_file), origins


def _validated(
    merged: dict[str, Any], origins: dict[str, str], config_file: Path | None
) -> OsirisConfig:
    """What validating `merged` gives: kept from an earlier validation of the same input
    when there is one (no pydantic to import), else validated now and kept."""
    kept = config_cache.load_validated(merged)
    if kept is not None:
        try:
            config: OsirisConfig = from_validated(OsirisConfig, kept)
            return config
        except (KeyError, TypeError, ValueError):
            pass  # not of the shape a validation gives: validate again
    from osiris.core.config_validate import validate

    config = validate(merged, origins=origins, config_file=config_file)
    config_cache.store_validated(merged, asdict(config))
    return config


def _refuse_unknown_keys(data: Mapping[str, Any], config_file: Path | None) -> None:
    """A key no version knows is a typo: one error line each, with "did you mean"."""
    problems = []
    for key, known in unknown_keys(data, OsirisConfig):
        if key in UPSTREAM_KEYS:
            continue  # `upstream_keys` reports these as warnings
        close = did_you_mean(key, known)
        section = key.rpartition(".")[0]
        hint = (
            f"did you mean '{section + '.' if section else ''}{close}'?"
            if close
            else f"the keys here are: {', '.join(known)}"
        )
        problems.append(
            ConfigError("unknown key", path=str(config_file or CONFIG_FILENAME), key=key, hint=hint)
        )
    if problems:
        raise ConfigProblems(problems)


def upstream_keys(data: Mapping[str, Any]) -> list[str]:
    """Warnings for the keys of a file that only upstream releases use (this version
    ignores them), one line each naming the release."""
    return [
        f"{key}: written by {UPSTREAM_KEYS[key]}; this version ignores it"
        for key, _ in unknown_keys(_without_nulls(data), OsirisConfig)
        if key in UPSTREAM_KEYS
    ]


def _without_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _without_nulls(v) if isinstance(v, Mapping) else v
        for k, v in data.items()
        if v is not None
    }


def load_config(
    project: Path | None = None,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    require_file: bool = True,
) -> ResolvedConfig:
    """Find, read and validate the project's configuration.

    `project` (the `--project DIR` flag) names the folder; otherwise the current folder and its
    parents are searched. Without a file, `require_file=False` gives the defaults rooted at the
    folder instead of an error.
    """
    env = os.environ if env is None else env
    start = Path(project) if project is not None else Path(cwd or Path.cwd())
    config_file = locate_config_file(project, cwd)
    if config_file is None and require_file:
        raise ProjectNotFound(
            f"no {CONFIG_FILENAME} in {start.resolve()} or any parent folder",
            hint="run `osiris init` to create a project, or pass --project DIR",
        )
    file_data = read_config_file(config_file, cached=True) if config_file else {}
    config, origins = build_config(file_data, config_file=config_file, env=env, flags=flags)
    project_dir = config_file.parent if config_file else start.resolve()
    return ResolvedConfig(
        config=config,
        base_path=resolve_base_path(config.filesystem.base_path, project_dir),
        config_file=config_file,
        origins=origins,
    )


def flatten(config: OsirisConfig) -> dict[str, Any]:
    """Every leaf key of the configuration as `dotted.key -> value`, in model order."""
    return _flatten_dict(asdict(config))


def _flatten_dict(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flatten_dict(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
