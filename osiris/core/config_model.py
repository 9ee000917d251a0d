"""The shape of `osiris.yaml` (contract.md §2): sections, keys, defaults and checks.

Plain frozen dataclasses, so a command that uses a configuration validated before (see
`config_cache`) never imports pydantic (~90 ms). Pydantic validates user input against
these same classes (`config_validate`): the `Check` marks on a key and each section's
`__post_init__` are the rules it applies, and the only place they are written. Keys no
section knows are found before validation (`config_keys`: a typo is an error, a key an
upstream release writes a warning); pydantic ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from typing import Annotated, Any, Literal, get_type_hints

from osiris.core.config_file import DEFAULT_DIRS, folder_problem

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


class Check:
    """A rule for one key, applied by pydantic after the key's type (`before=True`: on the
    raw value, before it). The rule returns the value or raises ValueError with the message.
    Pydantic's own `AfterValidator` would work the same, but would import pydantic here."""

    def __init__(self, rule: Callable[[Any], Any], *, before: bool = False) -> None:
        self.rule = rule
        self.before = before

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        wrap = (
            core_schema.no_info_before_validator_function
            if self.before
            else core_schema.no_info_after_validator_function
        )
        return wrap(self.rule, handler(source))


class KeyProblem(ValueError):
    """A section's rule that involves several keys, naming the key the user must change."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _between(low: int, high: int | None = None) -> Check:
    def rule(value: int) -> int:
        if value < low:
            raise ValueError(f"Input should be greater than or equal to {low}")
        if high is not None and value > high:
            raise ValueError(f"Input should be less than or equal to {high}")
        return value

    return Check(rule)


def _profile_names(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("must list at least one profile")
    for value in values:
        if not _PROFILE_NAME.fullmatch(value):
            raise ValueError(
                f"profile '{value}' is not a folder name: use letters and digits, "
                "joined by single '-' or '_'"
            )
    return values


def _template(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    for token in TOKEN_RE.findall(value):
        if token not in TOKENS:
            raise ValueError(
                f"unknown token {{{token}}}; tokens: {' '.join('{' + t + '}' for t in TOKENS)}"
            )
    return value


def _ts_format(value: str) -> str:
    if value not in TS_FORMATS and "%" not in value:
        raise ValueError(
            f"'{value}' is not a timestamp format: use iso_basic_z, epoch_ms, none "
            "or a strftime pattern such as %Y%m%d-%H%M%S"
        )
    return value


def _folder(value: str) -> str:
    problem = folder_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _split_tokens(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _run_id_tokens(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must name at least one token")
    for token in value:
        if token not in RUN_ID_TOKENS:
            raise ValueError(
                f"Unsupported run_id_format token '{token}'. Supported: {', '.join(RUN_ID_TOKENS)}."
            )
    return value


def _labels_named(value: dict[str, str]) -> dict[str, str]:
    if any(not label.strip() for label in value):
        raise ValueError("a legacy profile label must not be empty")
    return value


Count = Annotated[int, _between(0)]
Template = Annotated[str, Check(_template)]
Folder = Annotated[str, Check(_folder)]


@dataclass(frozen=True)
class ProfilesConfig:
    enabled: bool = True
    values: Annotated[list[str], Check(_profile_names)] = field(
        default_factory=lambda: list(DEFAULT_PROFILES)
    )
    default: str = "dev"

    def __post_init__(self) -> None:
        # Checked even when `default` is omitted, so narrowing `values` cannot leave it dangling.
        if self.enabled and self.default not in self.values:
            raise KeyProblem(
                "default",
                f"Unknown profile '{self.default}'. Allowed profiles: {', '.join(self.values)} "
                "(filesystem.profiles.values).",
            )


@dataclass(frozen=True)
class NamingConfig:
    manifest_dir: Template = "{pipeline_slug}/{manifest_short}-{manifest_hash}"
    run_dir: Template = "{pipeline_slug}/{run_ts}_{run_id}-{manifest_short}"
    aiop_run_dir: Template = "{run_id}"
    run_ts_format: Annotated[str, Check(_ts_format)] = "iso_basic_z"
    manifest_short_len: Annotated[int, _between(3, 16)] = 7


@dataclass(frozen=True)
class ArtifactsConfig:
    manifest: bool = True
    plan: bool = True
    fingerprints: bool = True
    run_summary: bool = True
    cfg: bool = True
    save_events_tail: Count = 0


@dataclass(frozen=True)
class RetentionConfig:
    run_logs_days: Count = 7
    aiop_keep_runs_per_pipeline: Count = 200
    annex_keep_days: Count = 14
    # Runs moved in by `osiris migrate apply` are kept this long after the migration.
    migrated_grace_days: Count = 30


@dataclass(frozen=True)
class FilesystemConfig:
    base_path: str = ""
    pipelines_dir: Folder = DEFAULT_DIRS["pipelines_dir"]
    build_dir: Folder = DEFAULT_DIRS["build_dir"]
    aiop_dir: Folder = DEFAULT_DIRS["aiop_dir"]
    run_logs_dir: Folder = DEFAULT_DIRS["run_logs_dir"]
    sessions_dir: Folder = DEFAULT_DIRS["sessions_dir"]
    cache_dir: Folder = DEFAULT_DIRS["cache_dir"]
    index_dir: Folder = DEFAULT_DIRS["index_dir"]
    profiles: ProfilesConfig = field(default_factory=ProfilesConfig)
    naming: NamingConfig = field(default_factory=NamingConfig)
    artifacts: ArtifactsConfig = field(default_factory=ArtifactsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)


@dataclass(frozen=True)
class IdsConfig:
    run_id_format: Annotated[
        list[str], Check(_split_tokens, before=True), Check(_run_id_tokens)
    ] = field(default_factory=lambda: ["iso_ulid"])
    manifest_hash_algo: Literal["sha256_slug"] = "sha256_slug"


@dataclass(frozen=True)
class CompatConfig:
    mode: Literal["legacy", "dual", "contract"] = "contract"
    read_fallback: bool = True
    # Profile labels other Osiris versions wrote -> contract profiles (osiris.core.profile_map).
    legacy_profiles: Annotated[dict[str, str], Check(_labels_named)] = field(default_factory=dict)


@dataclass(frozen=True)
class OsirisConfig:
    """The whole resolved configuration."""

    filesystem: FilesystemConfig = field(default_factory=FilesystemConfig)
    ids: IdsConfig = field(default_factory=IdsConfig)
    compat: CompatConfig = field(default_factory=CompatConfig)

    def __post_init__(self) -> None:
        profiles = self.filesystem.profiles
        if not profiles.enabled:
            return
        for label, profile in self.compat.legacy_profiles.items():
            if profile not in profiles.values:
                raise KeyProblem(
                    f"compat.legacy_profiles.{label}",
                    f"Unknown profile '{profile}'. "
                    f"Allowed profiles: {', '.join(profiles.values)} (filesystem.profiles.values).",
                )


@cache
def sections(section: type) -> dict[str, type | None]:
    """Each key of a section, with the section class it holds (None for a value)."""
    hints = get_type_hints(section)
    return {f.name: hints[f.name] if is_dataclass(hints[f.name]) else None for f in fields(section)}


def from_validated(section: type, data: Mapping[str, Any]) -> Any:
    """A section rebuilt from what `dataclasses.asdict` gave for a validated one, with no
    checks but the sections' own: KeyError, TypeError or ValueError when `data` is not
    what a validation gives."""
    nested = sections(section)
    if set(data) != set(nested):
        raise KeyError(f"not the keys of {section.__name__}")
    values = {}
    for key, value in data.items():
        kind = nested[key]
        values[key] = from_validated(kind, value) if kind else value
    return section(**values)
