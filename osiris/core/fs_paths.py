"""`FilesystemContract`: the only place Osiris makes a path (contract.md §1, §3, §5, §6).

Legacy paths (`logs/`, `compiled/`) are deliberately absent: they live in `osiris/compat/`.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from osiris.core.config_file import LAST_COMPILE_POINTER, MIGRATIONS_DIR, OSIRIS_DIR
from osiris.core.config_model import TOKEN_RE, TOKENS, OsirisConfig
from osiris.core.fs_config import ResolvedConfig
from osiris.core.project_dirs import project_relative
from osiris.errors import ConfigError, UsageError

_UNSAFE_VALUE = re.compile(r"[^A-Za-z0-9._+-]")
_UNSAFE_SLUG = re.compile(r"[^a-z0-9_-]")
# contract.md §3: doubled separators collapse to their first character.
_DOUBLED = re.compile(r"//+|--+|__+|_-")
_EDGE = "-_+."


def _collapse(text: str) -> str:
    # Until nothing doubled is left (every match changes the text); most text has none.
    while _DOUBLED.search(text):
        text = _DOUBLED.sub(lambda m: m.group(0)[0], text)
    return text


@functools.lru_cache(maxsize=4096)  # a migration slugs thousands of runs of a few pipelines
def slugify(name: str) -> str:
    """The one pipeline slug: lower-case, `[a-z0-9_-]` only, no doubled or edge separators.

    Other scripts are transliterated first (`ünïcode pipe` -> `unicode-pipe`,
    `Привет мир` -> `privet-mir`) rather than dropped."""
    if not name.isascii():
        from anyascii import anyascii  # only names that need it pay for the import

        name = anyascii(name)
    return _collapse(_UNSAFE_SLUG.sub("-", name.strip().lower())).strip("-_")


def manifest_slug(manifest: Mapping[str, Any]) -> str:
    """A manifest's pipeline slug: from the OML name it keeps as `name`, else `pipeline.id`.

    Other Osiris versions made `pipeline.id` of the name with spaces as `_`, a lossy step;
    the name itself gives the slug this version's compiler gives the same pipeline."""
    name = manifest.get("name")
    pipeline = manifest.get("pipeline")
    raw = pipeline.get("id") if isinstance(pipeline, Mapping) else None
    return slugify(name) if isinstance(name, str) and slugify(name) else slugify(str(raw or ""))


def safe_token(value: object) -> str:
    """Make a token value path-safe without changing its case (contract.md §3).

    Only `[A-Za-z0-9._+-]` survive; the result never starts with a dot, never is `.`/`..`,
    and never contains a separator. The index stores exactly this string.
    """
    if value is None:
        return ""
    return _safe_text(str(value))


@functools.lru_cache(maxsize=4096)
def _safe_text(text: str) -> str:
    # Cached: a migration renders thousands of paths from a handful of slugs and hashes.
    return _collapse(_UNSAFE_VALUE.sub("-", text)).strip(_EDGE)


def format_run_ts(started_at: datetime, fmt: str) -> str:
    """`run_ts` from a run's start time, per `filesystem.naming.run_ts_format`."""
    moment = started_at.astimezone(timezone.utc)
    if fmt == "iso_basic_z":
        return moment.strftime("%Y%m%dT%H%M%SZ")
    if fmt == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    if fmt == "none":
        return ""
    return safe_token(moment.strftime(fmt))


def render(template: str, values: Mapping[str, object]) -> str:
    """Render a naming template into a relative POSIX path that cannot leave its root."""
    parts = _template_parts(template)

    def substitute(name: str) -> str:
        raw = values.get(name)
        if name == "pipeline_slug":
            return slugify(str(raw or ""))
        if name == "tags" and raw is not None and not isinstance(raw, str):
            tags = cast("Iterable[object]", raw)
            return "+".join(sorted(safe_token(t) for t in tags if safe_token(t)))
        return safe_token(raw)

    rendered = "".join(
        part if is_token is None else substitute(is_token) for part, is_token in parts
    )
    segments = [_collapse(seg).strip("-_") for seg in rendered.split("/")]
    segments = [seg for seg in segments if seg]
    if not segments or any(seg in {".", ".."} for seg in segments):
        raise UsageError(
            f"naming template '{template}' renders to an unusable path '{rendered}'",
            key="filesystem.naming",
            hint="make sure the template names at least one token with a value",
        )
    return "/".join(segments)


@functools.lru_cache(maxsize=64)
def _template_parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template as (text, None) and (token name, token name) pieces, its tokens checked
    once (a migration renders thousands of paths from one template)."""
    unknown = sorted({t for t in TOKEN_RE.findall(template) if t not in TOKENS})
    if unknown:
        raise ConfigError(
            f"unknown token {{{unknown[0]}}} in naming template '{template}'",
            key="filesystem.naming",
            hint=f"tokens: {', '.join('{' + t + '}' for t in TOKENS)}",
        )
    parts: list[tuple[str, str | None]] = []
    text = template.replace("\\", "/")
    end = 0
    for match in TOKEN_RE.finditer(text):
        parts.append((text[end : match.start()], None))
        parts.append((match.group(1), match.group(1)))
        end = match.end()
    parts.append((text[end:], None))
    return tuple(parts)


# A relative path already normal: segments that are neither empty nor `.` or `..` (what
# `render` makes), which cannot leave its root and joins without normalizing.
_NORMAL_RELATIVE = re.compile(r"(?:(?!\.\.?/)[^/]+/)*(?!\.\.?$)[^/]+")


def inside(root: Path, relative: str) -> Path:
    """Join `relative` under `root`, refusing anything that would escape it."""
    # On normalized text (the migrator asks this per run): as strict as comparing parents.
    base = os.path.normpath(root)
    if _NORMAL_RELATIVE.fullmatch(relative) and base != ".":
        return Path(f"{base}{relative}" if base.endswith("/") else f"{base}/{relative}")
    candidate = os.path.normpath(os.path.join(base, relative))
    if candidate != base and not _below(candidate, base):
        raise UsageError(f"path '{relative}' escapes its root", path=root)
    return Path(candidate)


def _below(path: str, base: str) -> bool:
    """True when the normalized `path` lies below the normalized folder `base`."""
    if base == ".":
        return not (os.path.isabs(path) or path == ".." or path.startswith("../"))
    if path.startswith("//") != base.startswith("//"):
        return False  # POSIX leaves a leading `//` to the system: never taken as inside
    return path.startswith(base if base.endswith("/") else base + "/")


@dataclass(frozen=True)
class RunNaming:
    """The token values of one run, already path-safe (what the index records)."""

    pipeline_slug: str
    profile: str | None
    manifest_hash: str
    manifest_short: str
    run_id: str
    run_ts: str
    tags: tuple[str, ...] = ()
    branch: str = ""
    user: str = ""

    def tokens(self) -> dict[str, object]:
        return {
            "pipeline_slug": self.pipeline_slug,
            "profile": self.profile or "",
            "manifest_hash": self.manifest_hash,
            "manifest_short": self.manifest_short,
            "run_id": self.run_id,
            "run_ts": self.run_ts,
            "tags": self.tags,
            "branch": self.branch,
            "user": self.user,
        }


class FilesystemContract:
    """Every folder and file Osiris writes in `contract`/`dual` mode, from one configuration."""

    def __init__(self, config: OsirisConfig, base_path: Path) -> None:
        self.config = config
        self.base_path = Path(base_path)
        fs = config.filesystem
        self.pipelines_dir = self._root(fs.pipelines_dir, "filesystem.pipelines_dir")
        self.build_dir = self._root(fs.build_dir, "filesystem.build_dir")
        self.aiop_dir = self._root(fs.aiop_dir, "filesystem.aiop_dir")
        self.run_logs_dir = self._root(fs.run_logs_dir, "filesystem.run_logs_dir")
        self.sessions_dir = self._root(fs.sessions_dir, "filesystem.sessions_dir")
        self.cache_dir = self._root(fs.cache_dir, "filesystem.cache_dir")
        self.index_dir = self._root(fs.index_dir, "filesystem.index_dir")
        self.osiris_dir = self.base_path / OSIRIS_DIR
        self.migrations_dir = self.base_path / MIGRATIONS_DIR

    @classmethod
    def from_resolved(cls, resolved: ResolvedConfig) -> FilesystemContract:
        return cls(resolved.config, resolved.base_path)

    def _root(self, configured: str, key: str) -> Path:
        path = Path(configured)
        if path.is_absolute():
            return Path(os.path.normpath(path))
        try:
            return inside(self.base_path, configured)
        except UsageError:
            raise ConfigError(
                f"'{configured}' points outside the project", key=key, hint="use a relative folder"
            ) from None

    # -- names -----------------------------------------------------------------------------
    @property
    def short_len(self) -> int:
        return self.config.filesystem.naming.manifest_short_len

    def manifest_short(self, manifest_hash: str) -> str:
        return manifest_hash[: self.short_len]

    def run_ts(self, started_at: datetime) -> str:
        return format_run_ts(started_at, self.config.filesystem.naming.run_ts_format)

    def _profiled(self, root: Path, profile: str | None) -> Path:
        if self.config.filesystem.profiles.enabled and profile:
            return root / safe_token(profile)
        return root

    def _manifest_dir_rel(self, slug: str, manifest_hash: str, profile: str | None) -> str:
        return render(
            self.config.filesystem.naming.manifest_dir,
            {
                "pipeline_slug": slug,
                "profile": profile,
                "manifest_hash": manifest_hash,
                "manifest_short": self.manifest_short(manifest_hash),
            },
        )

    # -- build (contract.md §5) ------------------------------------------------------------
    def build_pipelines_dir(self, profile: str | None) -> Path:
        return self._profiled(self.build_dir / "pipelines", profile)

    def build_path(self, slug: str, manifest_hash: str, profile: str | None) -> Path:
        root = self.build_pipelines_dir(profile)
        return inside(root, self._manifest_dir_rel(slug, manifest_hash, profile))

    def manifest_path(self, slug: str, manifest_hash: str, profile: str | None) -> Path:
        return self.build_path(slug, manifest_hash, profile) / "manifest.yaml"

    # -- runs (contract.md §6) -------------------------------------------------------------
    def run_logs_root(self, profile: str | None) -> Path:
        return self._profiled(self.run_logs_dir, profile)

    def run_dir(self, naming: RunNaming) -> Path:
        rel = render(self.config.filesystem.naming.run_dir, naming.tokens())
        return inside(self.run_logs_root(naming.profile), rel)

    def aiop_root(self, profile: str | None) -> Path:
        return self._profiled(self.aiop_dir, profile)

    def aiop_manifest_dir(self, slug: str, manifest_hash: str, profile: str | None) -> Path:
        return inside(self.aiop_root(profile), self._manifest_dir_rel(slug, manifest_hash, profile))

    def aiop_run_dir(self, naming: RunNaming) -> Path:
        parent = self.aiop_manifest_dir(naming.pipeline_slug, naming.manifest_hash, naming.profile)
        return inside(parent, render(self.config.filesystem.naming.aiop_run_dir, naming.tokens()))

    # -- index (contract.md §5, §6) --------------------------------------------------------
    @property
    def runs_index(self) -> Path:
        return self.index_dir / "runs.jsonl"

    def pipeline_index(self, slug: str) -> Path:
        return self.index_dir / "by_pipeline" / f"{slugify(slug)}.jsonl"

    def latest_pointer(self, slug: str) -> Path:
        return self.index_dir / "latest" / f"{slugify(slug)}.txt"

    @property
    def last_compile_pointer(self) -> Path:
        return self.index_dir / LAST_COMPILE_POINTER

    @property
    def counters_db(self) -> Path:
        return self.index_dir / "counters.sqlite"

    # -- helpers ---------------------------------------------------------------------------
    def relative(self, path: Path) -> str:
        """A project path as the POSIX string the index and pointers store."""
        return project_relative(self.base_path, path)

    def absolute(self, stored: str) -> Path:
        """Resolve a stored (relative or absolute) path against this project."""
        path = Path(stored)
        return path if path.is_absolute() else self.base_path / path

    def layout(self) -> dict[str, Path]:
        """The top-level folders of the contract, for `config show` and `init`."""
        return {
            "base_path": self.base_path,
            "pipelines_dir": self.pipelines_dir,
            "build_dir": self.build_dir,
            "aiop_dir": self.aiop_dir,
            "run_logs_dir": self.run_logs_dir,
            "sessions_dir": self.sessions_dir,
            "cache_dir": self.cache_dir,
            "index_dir": self.index_dir,
        }


def current_user() -> str:
    """The login name for the `{user}` token, path-safe; empty when unknown."""
    try:
        return safe_token(getpass.getuser())
    except (OSError, KeyError):
        return ""
