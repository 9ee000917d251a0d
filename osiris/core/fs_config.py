"""Typed `osiris.yaml` (contract.md §2): models, defaults, env overrides, base_path.

Precedence for every key, lowest first: default < file < environment < command-line flag.
Each resolved key remembers where its value came from, for `osiris config show`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from osiris.core.config_file import (
    BASE_PATH_ENVS,
    CONFIG_FILENAME,
    DEFAULT_DIRS,
    ENV_OVERRIDES,
    base_path_problem,
    folder_problem,
    locate_config_file,
    read_config_file,
    resolve_base_path,
)
from osiris.core.config_keys import UPSTREAM_KEYS, did_you_mean, unknown_keys
from osiris.errors import ConfigError, ConfigProblems, ProjectNotFound

DEFAULT_PROFILES = ["dev", "staging", "prod", "ml", "finance", "incident_debug"]
RUN_ID_TOKENS = ("incremental", "ulid", "iso_ulid", "uuidv4", "snowflake")
FS_MODES = ("legacy", "dual", "contract")
TS_FORMATS = ("iso_basic_z", "epoch_ms", "none")
TOKENS = (
    "pipeline_slug",
    "profile",
    "manifest_hash",
    "manifest_short",
    "run_id",
    "run_ts",
    "status",
    "branch",
    "user",
    "tags",
)
TOKEN_RE = re.compile(r"\{([a-z_]+)\}")
# A profile becomes a folder name and an index value, which must be the same string
# (contract.md §3), so only names that path-safety would leave unchanged are accepted.
_PROFILE_NAME = re.compile(r"[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*")


class _Section(BaseModel):
    # Unknown keys are checked before validation (config_keys.py): typos are errors, keys
    # upstream releases write are warnings.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProfilesConfig(_Section):
    enabled: bool = True
    values: list[str] = Field(default_factory=lambda: list(DEFAULT_PROFILES))
    # Validated even when omitted, so a file that narrows `values` cannot leave it dangling.
    default: str = Field(default="dev", validate_default=True)

    @field_validator("values")
    @classmethod
    def _values_are_folder_names(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("must list at least one profile")
        for value in values:
            if not _PROFILE_NAME.fullmatch(value):
                raise ValueError(
                    f"profile '{value}' is not a folder name: use letters and digits, "
                    "joined by single '-' or '_'"
                )
        return values

    @field_validator("default")
    @classmethod
    def _default_in_values(cls, value: str, info: ValidationInfo) -> str:
        values = info.data.get("values")
        if info.data.get("enabled") and values is not None and value not in values:
            raise ValueError(
                f"Unknown profile '{value}'. Allowed profiles: {', '.join(values)} "
                "(filesystem.profiles.values)."
            )
        return value


class NamingConfig(_Section):
    manifest_dir: str = "{pipeline_slug}/{manifest_short}-{manifest_hash}"
    run_dir: str = "{pipeline_slug}/{run_ts}_{run_id}-{manifest_short}"
    aiop_run_dir: str = "{run_id}"
    run_ts_format: str = "iso_basic_z"
    manifest_short_len: int = Field(default=7, ge=3, le=16)

    @field_validator("manifest_dir", "run_dir", "aiop_run_dir")
    @classmethod
    def _template_known_tokens(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        for token in TOKEN_RE.findall(value):
            if token not in TOKENS:
                raise ValueError(
                    f"unknown token {{{token}}}; tokens: {' '.join('{' + t + '}' for t in TOKENS)}"
                )
        return value

    @field_validator("run_ts_format")
    @classmethod
    def _ts_format(cls, value: str) -> str:
        if value not in TS_FORMATS and "%" not in value:
            raise ValueError(
                f"'{value}' is not a timestamp format: use iso_basic_z, epoch_ms, none "
                "or a strftime pattern such as %Y%m%d-%H%M%S"
            )
        return value


class ArtifactsConfig(_Section):
    manifest: bool = True
    plan: bool = True
    fingerprints: bool = True
    run_summary: bool = True
    cfg: bool = True
    save_events_tail: int = Field(default=0, ge=0)


class RetentionConfig(_Section):
    run_logs_days: int = Field(default=7, ge=0)
    aiop_keep_runs_per_pipeline: int = Field(default=200, ge=0)
    annex_keep_days: int = Field(default=14, ge=0)
    # Runs moved in by `osiris migrate apply` are kept this long after the migration.
    migrated_grace_days: int = Field(default=30, ge=0)


class FilesystemConfig(_Section):
    base_path: str = ""
    pipelines_dir: str = DEFAULT_DIRS["pipelines_dir"]
    build_dir: str = DEFAULT_DIRS["build_dir"]
    aiop_dir: str = DEFAULT_DIRS["aiop_dir"]
    run_logs_dir: str = DEFAULT_DIRS["run_logs_dir"]
    sessions_dir: str = DEFAULT_DIRS["sessions_dir"]
    cache_dir: str = DEFAULT_DIRS["cache_dir"]
    index_dir: str = DEFAULT_DIRS["index_dir"]
    profiles: ProfilesConfig = Field(default_factory=ProfilesConfig)
    naming: NamingConfig = Field(default_factory=NamingConfig)
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @field_validator(
        "pipelines_dir",
        "build_dir",
        "aiop_dir",
        "run_logs_dir",
        "sessions_dir",
        "cache_dir",
        "index_dir",
    )
    @classmethod
    def _dir_inside_project(cls, value: str) -> str:
        problem = folder_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class IdsConfig(_Section):
    run_id_format: list[str] = Field(default_factory=lambda: ["iso_ulid"])
    manifest_hash_algo: Literal["sha256_slug"] = "sha256_slug"

    @field_validator("run_id_format", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("run_id_format")
    @classmethod
    def _known_tokens(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one token")
        for token in value:
            if token not in RUN_ID_TOKENS:
                raise ValueError(
                    f"Unsupported run_id_format token '{token}'. "
                    f"Supported: {', '.join(RUN_ID_TOKENS)}."
                )
        return value


class CompatConfig(_Section):
    mode: Literal["legacy", "dual", "contract"] = "contract"
    read_fallback: bool = True
    # Profile labels other Osiris versions wrote -> contract profiles (osiris.core.profile_map).
    legacy_profiles: dict[str, str] = Field(default_factory=dict)

    @field_validator("legacy_profiles")
    @classmethod
    def _labels_named(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not label.strip() for label in value):
            raise ValueError("a legacy profile label must not be empty")
        return value


class OsirisConfig(_Section):
    """The whole resolved configuration."""

    filesystem: FilesystemConfig = Field(default_factory=FilesystemConfig)
    ids: IdsConfig = Field(default_factory=IdsConfig)
    compat: CompatConfig = Field(default_factory=CompatConfig)

    @model_validator(mode="after")
    def _legacy_profiles_allowed(self) -> OsirisConfig:
        profiles = self.filesystem.profiles
        if not profiles.enabled:
            return self
        for label, profile in self.compat.legacy_profiles.items():
            if profile not in profiles.values:
                raise ValueError(
                    f"compat.legacy_profiles.{label}: Unknown profile '{profile}'. "
                    f"Allowed profiles: {', '.join(profiles.values)} (filesystem.profiles.values)."
                )
        return self


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


def _error_key(exc: ValidationError) -> tuple[str, str, Any]:
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return key, message, first.get("input")


def _origin_of(key: str, origins: dict[str, str]) -> str | None:
    # An error on a whole section names no leaf: report the origin of its last leaf.
    if key in origins:
        return origins[key]
    matches = [origins[k] for k in origins if k.startswith(key + ".")]
    return matches[-1] if matches else None


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
    try:
        config = OsirisConfig.model_validate(merged)
    except ValidationError as exc:
        key, message, value = _error_key(exc)
        origin = _origin_of(key, origins) or "file"
        if origin.startswith("env "):
            where = origin.removeprefix("env ")
        elif origin == "flag":
            where = "command line"
        else:
            where = str(config_file or CONFIG_FILENAME)
        shown = "" if isinstance(value, dict) or f"'{value}'" in message else f" (got {value!r})"
        raise ConfigError(
            f"{message}{shown}",
            path=where,
            key=key,
            hint="see docs/samples/osiris.filesystem.yaml for every key and its allowed values",
        ) from None
    return config, origins


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
    file_data = read_config_file(config_file) if config_file else {}
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
    return _flatten_dict(config.model_dump(mode="json"))


def _flatten_dict(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flatten_dict(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
