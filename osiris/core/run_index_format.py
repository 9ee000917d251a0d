"""The run index's format (contract.md §6): run records, timestamps, file layout and pointers.

`RunRecord` is one run as an index line holds it, `IndexPaths` says where each index file
lives and `read_pointer` reads a `latest/<slug>.txt` or `last_compile.txt` pointer; reading
and appending the index live in `run_index`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from itertools import repeat
from pathlib import Path
from typing import Any

from osiris.core import foreign_records
from osiris.core.config_file import LAST_COMPILE_POINTER
from osiris.core.lock import INDEX_LOCK_NAME
from osiris.core.tags import stored_tags

_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9._+-]+")


def _as_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def is_safe_segment(value: str) -> bool:
    return bool(_SAFE_SEGMENT.fullmatch(value)) and value not in (".", "..")


@dataclass(frozen=True)
class RunRecord:
    """One run as the index knows it; keys this version does not know ride along in `extra`."""

    run_id: str
    pipeline_slug: str = ""
    profile: str | None = None
    manifest_hash: str | None = None
    manifest_short: str | None = None
    run_ts: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status: str = "unknown"
    error: str | None = None  # why a failed run failed: step id and the error, one line
    duration_ms: int | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    run_logs_path: str | None = None
    aiop_path: str | None = None
    build_manifest_path: str | None = None
    tags: tuple[str, ...] = ()
    branch: str | None = None
    user: str | None = None
    git_commit: str | None = None
    fs_mode: str | None = None
    source: str = "contract"
    legacy_session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", stored_tags(self.tags))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Build a record from any version's dict; raises ValueError only without a run_id."""
        run_id = data.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ValueError("a run record needs a non-empty string run_id")
        if _as_this_version_writes(data):
            # The common line, taken as it is (checked in C: an index holds thousands), its
            # values passed in field order, which CPython matches fastest.
            return cls(*map(data.__getitem__, _FIELD_NAMES))
        if foreign_records.is_upstream_05(data):
            data = foreign_records.normalized(data)
        values: dict[str, Any] = {"run_id": run_id}
        extra: dict[str, Any] = {}
        for name, value in data.items():
            kind = _FIELD_KINDS.get(name)
            if kind is None:
                extra[name] = value
            elif kind is _STR:
                values[name] = value if value is None or isinstance(value, str) else str(value)
            elif kind is _INT:
                values[name] = _as_int(value)
            elif kind is _REQUIRED_STR:
                if value is not None:
                    values[name] = str(value)
            elif kind is _TAGS:
                values[name] = value  # normalized by __post_init__
        values["run_id"] = run_id
        if values.get("profile") == "":
            values["profile"] = None  # "" and null both mean "profiles off"
        values["extra"] = extra
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Every known field plus the extra keys; `from_dict(r.to_dict()) == r`."""
        known = {name: getattr(self, name) for name in _FIELD_NAMES}
        known["tags"] = list(self.tags)
        return {**self.extra, **known}


_FIELD_NAMES = tuple(f.name for f in fields(RunRecord) if f.name != "extra")
_KNOWN_NAMES = frozenset(_FIELD_NAMES)
# How `from_dict` takes each field's value (run_id is checked apart).
_STR, _INT, _REQUIRED_STR, _TAGS, _RUN_ID = "str", "int", "required str", "tags", "run_id"
_FIELD_KINDS = {name: _STR for name in _FIELD_NAMES} | {
    "duration_ms": _INT,
    "rows_in": _INT,
    "rows_out": _INT,
    "pipeline_slug": _REQUIRED_STR,
    "status": _REQUIRED_STR,
    "source": _REQUIRED_STR,
    "tags": _TAGS,
    "run_id": _RUN_ID,
}
_STR_OR_NONE = (str, type(None))
_NAMES_OF = {
    kind: tuple(name for name, of in _FIELD_KINDS.items() if of is kind)
    for kind in (_STR, _INT, _REQUIRED_STR)
}
_INT_TYPES = frozenset((int, type(None)))  # by type: a bool is an int to isinstance


def _as_this_version_writes(data: Mapping[str, Any]) -> bool:
    """True when a record holds every known field and nothing else, each of the type
    `to_dict` writes, so `from_dict` has nothing to convert, default or set aside."""
    return (
        data.keys() == _KNOWN_NAMES
        and data["profile"] != ""
        and all(map(isinstance, map(data.get, _NAMES_OF[_STR]), repeat(_STR_OR_NONE)))
        and all(map(isinstance, map(data.get, _NAMES_OF[_REQUIRED_STR]), repeat(str)))
        and all(map(_INT_TYPES.__contains__, map(type, map(data.get, _NAMES_OF[_INT]))))
    )


@dataclass(frozen=True)
class IndexPaths:
    """Where each index file lives under `.osiris/index`."""

    index_dir: Path

    @property
    def runs(self) -> Path:
        return self.index_dir / "runs.jsonl"

    @property
    def lock(self) -> Path:
        return self.index_dir / INDEX_LOCK_NAME

    @property
    def last_compile(self) -> Path:
        return self.index_dir / LAST_COMPILE_POINTER

    def by_pipeline(self, pipeline_slug: str) -> Path:
        return self.index_dir / "by_pipeline" / f"{_checked_slug(pipeline_slug)}.jsonl"

    def latest(self, pipeline_slug: str) -> Path:
        return self.index_dir / "latest" / f"{_checked_slug(pipeline_slug)}.txt"


def _checked_slug(pipeline_slug: object) -> str:
    if not isinstance(pipeline_slug, str) or not is_safe_segment(pipeline_slug):
        raise ValueError(f"pipeline slug {pipeline_slug!r} cannot be a file name")
    return pipeline_slug


@dataclass(frozen=True)
class Pointer:
    """A `latest/<slug>.txt` or `last_compile.txt` pointer to a compiled manifest."""

    manifest_path: str
    manifest_hash: str
    profile: str | None


def read_pointer(path: Path) -> Pointer | None:
    """Read a three-line pointer file; None when it is missing or names no manifest."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    lines += [""] * (3 - len(lines))
    manifest_path, manifest_hash, profile = (line.strip() for line in lines[:3])
    if not manifest_path:
        return None
    return Pointer(manifest_path, manifest_hash, profile or None)
