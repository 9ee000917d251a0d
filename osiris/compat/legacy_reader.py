"""Reads a project's legacy tree (legacy-layout.md) into typed values.

Damage never raises: a truncated line, a missing or unreadable file, or a file of the wrong
shape is skipped with a warning naming its project-relative path, and the item is kept
with what could be read. Symlinks are never followed: every directory is listed with
`os.scandir` and every file checked with `os.lstat` before it is read.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_layout import SessionKind, classify_session, session_time
from osiris.core.fs_paths import slugify
from osiris.core.manifest_hash import manifest_hash
from osiris.core.run_index import RunRecord, parse_moment, utc_now_iso

Status = Literal["success", "failed", "interrupted", "unknown"]

_SESSION_NAMED_JSON = re.compile(r"aiop\.(?P<sid>.+)\.json")
_SESSION_NAMED_CARD = re.compile(r"run-card\.(?P<sid>.+)\.md")
_BY_PIPELINE_FILE = re.compile(r"sha256:(?P<hex>[0-9a-fA-F]+)\.jsonl")
# Places an AIOP keeps its run's session id; versions of the old tool used several.
_AIOP_ID_KEYS: tuple[tuple[str, ...], ...] = (
    ("run", "session_id"),
    ("run", "id"),
    ("run", "run_id"),
    ("session_id",),
    ("session", "id"),
    ("session", "session_id"),
    ("metadata", "session_id"),
    ("meta", "session_id"),
    ("run_id",),
)
_AIOP_STATUS_KEYS: tuple[tuple[str, ...], ...] = (("run", "status"), ("status",))


class ItemKind(str, Enum):
    """What a path found by `scan_legacy` is (legacy-layout.md §1)."""

    SESSION = "session"
    LAST_COMPILE = "last_compile"
    AIOP = "aiop"
    AIOP_INDEX = "aiop_index"
    AIOP_LATEST = "aiop_latest"
    COMPILED = "compiled"
    CHAT_SESSIONS = "chat_sessions"
    CACHE = "cache"
    PROMPTS = "prompts"
    AIOP_ANNEX = "aiop_annex"
    USER_OUTPUT = "user_output"
    UNKNOWN = "unknown"


class AiopVariant(str, Enum):
    """The three AIOP naming schemes of legacy-layout.md §4."""

    FIRST_RUN = "first_run"  # logs/aiop/aiop.json + run-card.md
    SESSION_NAMED = "session_named"  # logs/aiop/aiop.<sid>.json + run-card.<sid>.md
    FOLDER = "folder"  # logs/aiop/<sid>/{aiop.json, run-card.md, annex/}


# When a session has several AIOPs, the most specific name wins.
_AIOP_PREFERENCE = (AiopVariant.FOLDER, AiopVariant.SESSION_NAMED, AiopVariant.FIRST_RUN)


@dataclass(frozen=True)
class LegacyItem:
    """One path the scan found; a directory item stands for everything below it."""

    rel: PurePosixPath
    kind: ItemKind
    is_dir: bool
    is_symlink: bool
    note: str = ""


@dataclass(frozen=True)
class LegacyPointer:
    """`logs/.last_compile.json` or a compile session's `.last.json`."""

    path: Path
    session_id: str | None
    manifest_path: str | None
    compiled_dir: str | None
    generated_at: str | None
    target: Path | None  # the manifest it names, when that file exists in this project
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LegacyAiop:
    """One run's legacy AIOP files, matched to its session by content or file name."""

    variant: AiopVariant
    session_id: str | None
    matched_by: Literal["content", "file_name"] | None
    status: str | None
    json_path: Path | None
    run_card_path: Path | None
    folder: Path | None
    annex_shards: tuple[Path, ...]
    paths: tuple[Path, ...]  # every path this AIOP owns (a folder owns all below it)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LegacyAiopIndex:
    """`logs/aiop/index/runs.jsonl` or a `by_pipeline/sha256:<hex>.jsonl` file."""

    path: Path
    pipeline_hash: str | None  # the `<hex>` of a by_pipeline file name
    entries: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LegacyLink:
    """`logs/aiop/latest`: kept as found, never followed (it often points at `.`)."""

    path: Path
    target: str | None  # the link text; None when it is not a symlink


@dataclass(frozen=True)
class LegacyCompiled:
    """A top-level `compiled/` or `compiled/<name>/` tree."""

    path: Path
    name: str | None
    manifest: dict[str, Any] | None
    manifest_path: Path | None
    manifest_hash: str | None
    pipeline_id: str | None
    pipeline_slug: str | None
    profile: str | None  # legacy null / "default" read as None
    compiled_at: datetime | None
    paths: tuple[Path, ...]  # what the tree owns (for compiled/ itself: only the tree's files)
    warnings: list[str] = field(default_factory=list)

    def manifest_hash_for(self, default_profile: str | None) -> str | None:
        """The contract hash once a legacy null/`default` profile maps to `default_profile`."""
        return _hash_for(self.manifest, self.profile, self.manifest_hash, default_profile)


@dataclass(frozen=True)
class LegacySession:
    """One `logs/<session_id>/` folder with everything derivable from its files."""

    session_id: str
    kind: SessionKind
    path: Path
    status: Status
    events: list[dict[str, Any]] = field(repr=False)
    metrics: list[dict[str, Any]] = field(repr=False)
    pipeline_id: str | None
    pipeline_slug: str | None
    profile: str | None  # legacy null / "default" read as None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    rows_in: int | None
    rows_out: int | None
    manifest: dict[str, Any] | None = field(repr=False)
    manifest_path: Path | None
    manifest_hash: str | None  # of the manifest as compiled, with `profile`
    last_pointer: LegacyPointer | None
    aiop: LegacyAiop | None
    warnings: list[str] = field(default_factory=list)

    def manifest_hash_for(self, default_profile: str | None) -> str | None:
        """The contract hash once a legacy null/`default` profile maps to `default_profile`."""
        return _hash_for(self.manifest, self.profile, self.manifest_hash, default_profile)


@dataclass(frozen=True)
class LegacyInventory:
    """Everything `scan_legacy` found; every path lies in `containers` or under an item."""

    root: Path
    items: tuple[LegacyItem, ...]
    containers: tuple[PurePosixPath, ...]  # logs/, logs/aiop/, … : listed, not owned
    sessions: tuple[LegacySession, ...]
    aiops: tuple[LegacyAiop, ...]
    aiop_indexes: tuple[LegacyAiopIndex, ...]
    aiop_latest: LegacyLink | None
    last_compile: LegacyPointer | None
    compiled: tuple[LegacyCompiled, ...]
    warnings: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """True when nothing but user outputs was found."""
        return all(item.kind is ItemKind.USER_OUTPUT for item in self.items)

    def items_of(self, kind: ItemKind) -> list[LegacyItem]:
        """The items of one kind, in path order."""
        return [item for item in self.items if item.kind is kind]

    def sessions_by_kind(self) -> dict[SessionKind, list[LegacySession]]:
        """The sessions grouped by kind, each group in path order."""
        grouped: dict[SessionKind, list[LegacySession]] = {}
        for session in self.sessions:
            grouped.setdefault(session.kind, []).append(session)
        return grouped

    def session(self, session_id: str) -> LegacySession | None:
        """The session with this id, if the scan found one."""
        return next((s for s in self.sessions if s.session_id == session_id), None)

    def covers(self, rel: PurePosixPath) -> bool:
        """True when `rel` is a container, an item, or inside a directory item."""
        if rel in self.containers:
            return True
        return any(item.rel == rel or item.rel in rel.parents for item in self.items)


# -- reading single files -------------------------------------------------------------------


class _Notes:
    """Collects warnings as `<project-relative path>: <message>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines: list[str] = []

    def add(self, path: Path, message: str) -> None:
        self.lines.append(f"{_rel(path, self.root)}: {message}")


def _rel(path: Path, root: Path) -> str:
    try:
        return PurePosixPath(Path(path).relative_to(root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _is_real_dir(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _is_regular_file(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _entries(path: Path, notes: _Notes) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        notes.add(path, f"cannot list the folder ({exc.strerror or exc})")
        return []


def _read_bytes(path: Path, notes: _Notes, *, required: bool) -> bytes | None:
    st = _lstat(path)
    if st is None:
        if required:
            notes.add(path, "missing")
        return None
    if not stat.S_ISREG(st.st_mode):
        notes.add(path, "not a regular file (symlinks are never followed); ignored")
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        notes.add(path, f"cannot read ({exc.strerror or exc})")
        return None


_INVALID = object()


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _INVALID


def _read_jsonl(path: Path, notes: _Notes, *, required: bool = True) -> list[dict[str, Any]]:
    data = _read_bytes(path, notes, required=required)
    if data is None:
        return []
    lines = data.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        value = _parse_json(line)
        if isinstance(value, dict):
            records.append(value)
        elif value is _INVALID and number == last and not data.endswith(b"\n"):
            notes.add(path, f"skipped a truncated last line {number + 1}")
        else:
            notes.add(path, f"skipped a damaged line {number + 1}")
    return records


def _read_json(path: Path, notes: _Notes, *, required: bool = True) -> dict[str, Any] | None:
    data = _read_bytes(path, notes, required=required)
    if data is None:
        return None
    value = _parse_json(data)
    if value is _INVALID:
        notes.add(path, "not valid JSON; ignored")
        return None
    if not isinstance(value, dict):
        notes.add(path, "not a JSON object; ignored")
        return None
    return value


# libyaml's parser when PyYAML has it (about 9x faster on manifests), same safe semantics.
class _ManifestLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that keeps timestamps as strings, so every manifest is JSON-hashable."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_manifest(path: Path, notes: _Notes, *, required: bool) -> dict[str, Any] | None:
    data = _read_bytes(path, notes, required=required)
    if data is None:
        return None
    try:
        value = yaml.load(data.decode("utf-8"), Loader=_ManifestLoader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        notes.add(path, "not valid YAML; ignored")
        return None
    if not isinstance(value, dict):
        notes.add(path, "not a YAML mapping; ignored")
        return None
    return value


def _dig(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _normal_profile(value: Any) -> str | None:
    # legacy-layout.md §3: a legacy profile may be null or the literal "default".
    if not isinstance(value, str) or value.strip() in ("", "default"):
        return None
    return value.strip()


def _first_profile(*candidates: Any) -> str | None:
    return _normal_profile(next((value for value in candidates if value is not None), None))


def _as_compiled(manifest: dict[str, Any]) -> dict[str, Any]:
    # legacy-layout.md §2: a run's manifest.yaml is the compiled manifest plus
    # metadata.source_manifest_path. The hash helper drops that key; dropping the
    # `metadata` it alone made up keeps a run's hash equal to its compile's.
    metadata = manifest.get("metadata")
    if isinstance(metadata, dict) and set(metadata) == {"source_manifest_path"}:
        return {key: value for key, value in manifest.items() if key != "metadata"}
    return manifest


def _safe_hash(
    manifest: dict[str, Any] | None, profile: str | None, notes: _Notes | None, path: Path | None
) -> str | None:
    if manifest is None:
        return None
    try:
        return manifest_hash(_as_compiled(manifest), profile)
    except (TypeError, ValueError, RecursionError):
        if notes is not None and path is not None:
            notes.add(path, "holds values that cannot be hashed; no manifest hash")
        return None


def _hash_for(
    manifest: dict[str, Any] | None,
    profile: str | None,
    own_hash: str | None,
    default_profile: str | None,
) -> str | None:
    effective = profile or default_profile
    if effective == profile:
        return own_hash
    return _safe_hash(manifest, effective, None, None)


def _number(value: Any) -> float | None:
    """A finite number from JSON (which may hold huge integers, Infinity or NaN), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# -- pointers, compiled trees ---------------------------------------------------------------


def _inside(root: Path, stored: str) -> Path | None:
    """The regular file `stored` names inside `root`, reached without crossing a symlink."""
    parts = PurePosixPath(stored.replace("\\", "/")).parts
    if not parts or ".." in parts:
        return None
    path = root
    for index, part in enumerate(parts):
        path = path / part
        last = index == len(parts) - 1
        if not (_is_regular_file(path) if last else _is_real_dir(path)):
            return None
    return path


def _resolve_stored(root: Path, stored: str) -> Path | None:
    normalized = stored.replace("\\", "/")
    if not normalized.startswith("/") and not re.match(r"[A-Za-z]:/", normalized):
        return _inside(root, normalized)
    # An absolute path written before the project moved: keep its part from `logs/` on.
    parts = normalized.split("/")
    logs = str(layout.LOGS_DIR)
    for index, part in enumerate(parts):
        if part == logs:
            found = _inside(root, "/".join(parts[index:]))
            if found is not None:
                return found
    return None


def _read_pointer(path: Path, root: Path) -> LegacyPointer:
    notes = _Notes(root)
    data = _read_json(path, notes) or {}
    stored = _text(data.get("manifest_path"))
    target = _resolve_stored(root, stored) if stored else None
    if data and stored is None:
        notes.add(path, "names no manifest_path")
    elif stored and target is None:
        notes.add(path, f"names {stored}, which is not a file in this project")
    return LegacyPointer(
        path=path,
        session_id=_text(data.get("session_id")),
        manifest_path=stored,
        compiled_dir=_text(data.get("compiled_dir")),
        generated_at=_text(data.get("generated_at")),
        target=target,
        warnings=notes.lines,
    )


def read_pointer(path: Path, project_root: Path) -> LegacyPointer | None:
    """A legacy pointer file, or None when there is none at `path`."""
    if _lstat(path) is None:
        return None
    return _read_pointer(Path(path), Path(project_root))


def read_last_compile(project_root: Path) -> Path | None:
    """The manifest `logs/.last_compile.json` names, when both exist in this project."""
    pointer = read_pointer(Path(project_root) / layout.LAST_COMPILE, project_root)
    return pointer.target if pointer else None


@dataclass(frozen=True)
class _Tree:
    manifest: dict[str, Any] | None
    manifest_path: Path | None
    meta: dict[str, Any]
    effective: dict[str, Any]


def _read_tree(tree: Path, notes: _Notes, *, manifest_required: bool) -> _Tree:
    manifest_file = tree / layout.TREE_MANIFEST
    manifest = _read_manifest(manifest_file, notes, required=manifest_required)
    meta = _read_json(tree / layout.TREE_META, notes, required=False) or {}
    effective = _read_json(tree / layout.TREE_EFFECTIVE_CONFIG, notes, required=False) or {}
    return _Tree(manifest, manifest_file if manifest is not None else None, meta, effective)


def _profile_sources(tree: _Tree) -> tuple[Any, ...]:
    return (
        _dig(tree.manifest, ("meta", "profile")),
        _dig(tree.manifest, ("pipeline", "fingerprints", "profile")),
        tree.meta.get("profile"),
        tree.effective.get("profile"),
    )


def _slug(pipeline_id: str | None) -> str | None:
    return (slugify(pipeline_id) or None) if pipeline_id else None


def _compiled_tree(
    path: Path, name: str | None, owned: tuple[Path, ...], root: Path
) -> LegacyCompiled:
    notes = _Notes(root)
    tree = _read_tree(path, notes, manifest_required=True)
    profile = _first_profile(*_profile_sources(tree))
    pipeline_id = _text(_dig(tree.manifest, ("pipeline", "id")))
    return LegacyCompiled(
        path=path,
        name=name,
        manifest=tree.manifest,
        manifest_path=tree.manifest_path,
        manifest_hash=_safe_hash(tree.manifest, profile, notes, tree.manifest_path),
        pipeline_id=pipeline_id,
        pipeline_slug=_slug(pipeline_id),
        profile=profile,
        compiled_at=parse_moment(tree.meta.get("compiled_at")),
        paths=owned,
        warnings=notes.lines,
    )


# -- sessions -------------------------------------------------------------------------------


def _last_event(events: list[dict[str, Any]], names: tuple[str, ...]) -> str | None:
    return next((e["event"] for e in reversed(events) if e.get("event") in names), None)


def _status(
    kind: SessionKind,
    events: list[dict[str, Any]],
    *,
    ok: bool | None,
    has_last_json: bool,
    compiled_empty: bool,
    notes: _Notes,
    path: Path,
) -> Status:
    # legacy-layout.md §2: status has no field of its own. A decisive event beats a missing
    # run_end, because a truncated last line often is the run_end of a finished session.
    if kind is SessionKind.COMPILE:
        decisive = _last_event(events, ("compile_complete", "compile_error"))
        if decisive:
            return "success" if decisive == "compile_complete" else "failed"
        if has_last_json:
            return "success"
        if compiled_empty:
            return "failed"
    elif kind is SessionKind.RUN:
        decisive = _last_event(events, ("run_complete", "run_error"))
        if decisive:
            status: Status = "success" if decisive == "run_complete" else "failed"
            if ok is not None and ok != (status == "success"):
                notes.add(path / layout.STATUS_JSON, f"ok={ok} disagrees with the {decisive} event")
            return status
        if ok is not None:
            return "success" if ok else "failed"
    names = [e.get("event") for e in events]
    if "run_start" in names and "run_end" not in names:
        return "interrupted"
    return "unknown"


def _sum_metric(metrics: list[dict[str, Any]], name: str) -> int | None:
    values = [_number(m.get("value")) for m in metrics if m.get("metric") == name]
    found = [value for value in values if value is not None]
    total = _number(sum(found)) if found else None
    return int(total) if total is not None else None


def _step_modes(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each step's mode (extract, transform, write) as this tool's `step_start` events say."""
    return {
        e["step_id"]: e["mode"]
        for e in events
        if e.get("event") == "step_start"
        and isinstance(e.get("step_id"), str)
        and isinstance(e.get("mode"), str)
    }


def _metric_step(metric: dict[str, Any]) -> str | None:
    tags = metric.get("tags")
    step = metric.get("step_id") or (tags.get("step") if isinstance(tags, dict) else None)
    return step if isinstance(step, str) else None


def _sum_of_mode(metrics: list[dict[str, Any]], name: str, modes: dict[str, str], mode: str) -> int:
    of_mode = [m for m in metrics if modes.get(_metric_step(m) or "") == mode]
    return _sum_metric(of_mode, name) or 0


def _rows(
    events: list[dict[str, Any]], metrics: list[dict[str, Any]]
) -> tuple[int | None, int | None]:
    modes = _step_modes(events)
    if modes:
        # Sessions this tool wrote (modes legacy and dual) carry rows_read and rows_written
        # for every step: rows come in at extract steps and go out at write steps, as the
        # contract's summary counts them. Old-tool sessions have no modes: all steps count.
        return (
            _sum_of_mode(metrics, "rows_read", modes, "extract"),
            _sum_of_mode(metrics, "rows_written", modes, "write"),
        )
    rows_in = _sum_metric(metrics, "rows_read")
    rows_out = _sum_metric(metrics, "rows_written")
    if rows_out is None:
        cleanup = next((e for e in reversed(events) if e.get("event") == "cleanup_complete"), {})
        total = _number(cleanup.get("total_rows"))
        rows_out = int(total) if total is not None else None
    return rows_in, rows_out


def _timing(
    session_id: str, events: list[dict[str, Any]]
) -> tuple[datetime | None, datetime | None, int | None]:
    started = next((t for t in (parse_moment(e.get("ts")) for e in events) if t), None)
    started = started or session_time(session_id)
    end = next((e for e in reversed(events) if e.get("event") == "run_end"), None)
    if end is None:
        return started, None, None
    finished = parse_moment(end.get("end_time")) or parse_moment(end.get("ts"))
    seconds = _number(end.get("duration_seconds"))
    if seconds is not None:
        duration: int | None = round(seconds * 1000)
    elif started and finished:
        duration = round((finished - started).total_seconds() * 1000)
    else:
        duration = None
    return started, finished, duration


def _is_empty_dir(path: Path) -> bool:
    if not _is_real_dir(path):
        return False
    try:
        with os.scandir(path) as listing:
            return next(listing, None) is None
    except OSError:
        return False


def _read_session(path: Path, root: Path) -> LegacySession:
    session_id = path.name
    kind = classify_session(session_id)
    notes = _Notes(root)
    events = _read_jsonl(path / layout.EVENTS, notes)
    metrics = _read_jsonl(path / layout.METRICS, notes)
    if not _is_real_dir(path / layout.ARTIFACTS):
        notes.add(path / layout.ARTIFACTS, "missing")
    compiled = path / layout.SESSION_COMPILED
    last_pointer = None
    ok = None
    if kind is SessionKind.COMPILE:
        last_pointer = read_pointer(path / layout.LAST_JSON, root)
        tree = _read_tree(compiled, notes, manifest_required=False)
    elif kind is SessionKind.RUN:
        if _lstat(path / layout.OSIRIS_LOG) is None:
            notes.add(path / layout.OSIRIS_LOG, "missing")
        status_json = _read_json(path / layout.STATUS_JSON, notes, required=False)
        ok = status_json.get("ok") if status_json else None
        ok = ok if isinstance(ok, bool) else None
        tree = _read_tree(compiled, notes, manifest_required=False)
        own = _read_manifest(path / layout.SESSION_MANIFEST, notes, required=False)
        if own is not None:
            tree = replace(tree, manifest=own, manifest_path=path / layout.SESSION_MANIFEST)
        elif tree.manifest is None:
            notes.add(path / layout.SESSION_MANIFEST, "missing")
    else:
        tree = _Tree(None, None, {}, {})
    status = _status(
        kind,
        events,
        ok=ok,
        has_last_json=last_pointer is not None,
        compiled_empty=_is_empty_dir(compiled),
        notes=notes,
        path=path,
    )
    if kind is SessionKind.COMPILE and status == "success" and tree.manifest is None:
        notes.add(compiled / layout.TREE_MANIFEST, "missing")
    # An interrupted run never got to write its status.json; any other run should have one.
    if (
        kind is SessionKind.RUN
        and status != "interrupted"
        and _lstat(path / layout.STATUS_JSON) is None
    ):
        notes.add(path / layout.STATUS_JSON, "missing")
    runner_start = next(
        (
            e
            for e in events
            if e.get("event") == "run_start" and "pipeline_id" in e and "manifest_path" in e
        ),
        {},
    )
    pipeline_id = _text(runner_start.get("pipeline_id")) or _text(
        _dig(tree.manifest, ("pipeline", "id"))
    )
    profile = _first_profile(*_profile_sources(tree), runner_start.get("profile"))
    started, finished, duration = _timing(session_id, events)
    rows_in, rows_out = _rows(events, metrics)
    return LegacySession(
        session_id=session_id,
        kind=kind,
        path=path,
        status=status,
        events=events,
        metrics=metrics,
        pipeline_id=pipeline_id,
        pipeline_slug=_slug(pipeline_id),
        profile=profile,
        started_at=started,
        finished_at=finished,
        duration_ms=duration,
        rows_in=rows_in,
        rows_out=rows_out,
        manifest=tree.manifest,
        manifest_path=tree.manifest_path,
        manifest_hash=_safe_hash(tree.manifest, profile, notes, tree.manifest_path),
        last_pointer=last_pointer,
        aiop=None,
        warnings=notes.lines + (last_pointer.warnings if last_pointer else []),
    )


def read_session(session_dir: Path) -> LegacySession:
    """Read one `logs/<session_id>/` folder; damage becomes warnings, never an exception."""
    session_dir = Path(session_dir)
    return _read_session(session_dir, session_dir.parent.parent)


# -- AIOP -----------------------------------------------------------------------------------


def _aiop(
    variant: AiopVariant,
    root: Path,
    *,
    json_path: Path | None,
    run_card_path: Path | None,
    folder: Path | None = None,
    named_for: str | None = None,
) -> LegacyAiop:
    notes = _Notes(root)
    where = folder or json_path or run_card_path
    assert where is not None  # every variant is found through one of these
    content_id = status = None
    if json_path is None:
        notes.add(where, "has no AIOP JSON")
    else:
        data = _read_json(json_path, notes) or {}
        content_id = next((v for keys in _AIOP_ID_KEYS if (v := _text(_dig(data, keys)))), None)
        status = next((v for keys in _AIOP_STATUS_KEYS if (v := _text(_dig(data, keys)))), None)
    if content_id and named_for and content_id != named_for:
        notes.add(where, f"names session {content_id} inside but {named_for} in its file name")
    session_id = content_id or named_for
    if session_id is None:
        notes.add(where, "cannot be matched to a session")
    shards: tuple[Path, ...] = ()
    if folder is not None:
        annex = folder / layout.AIOP_ANNEX
        names = {*layout.ANNEX_SHARDS, *(shard + layout.GZ_SUFFIX for shard in layout.ANNEX_SHARDS)}
        if _is_real_dir(annex):
            listed = _entries(annex, notes)
            shards = tuple(
                Path(e.path) for e in listed if e.name in names and e.is_file(follow_symlinks=False)
            )
    owned = (folder,) if folder is not None else tuple(p for p in (json_path, run_card_path) if p)
    return LegacyAiop(
        variant=variant,
        session_id=session_id,
        matched_by="content" if content_id else ("file_name" if named_for else None),
        status=status,
        json_path=json_path,
        run_card_path=run_card_path,
        folder=folder,
        annex_shards=shards,
        paths=owned,
        warnings=notes.lines,
    )


def _link_text(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _file_in(folder: Path, name: str) -> Path | None:
    path = folder / name
    return path if _is_regular_file(path) else None


# -- the scan -------------------------------------------------------------------------------


class _Scan:
    """One pass over a project root; builds the inventory's lists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notes = _Notes(root)
        self.items: list[LegacyItem] = []
        self.containers: list[PurePosixPath] = []
        self.sessions: list[LegacySession] = []
        self.aiops: list[LegacyAiop] = []
        self.indexes: list[LegacyAiopIndex] = []
        self.latest: LegacyLink | None = None
        self.last_compile: LegacyPointer | None = None
        self.compiled: list[LegacyCompiled] = []

    def rel(self, path: Path) -> PurePosixPath:
        return PurePosixPath(_rel(path, self.root))

    def item(self, path: Path, kind: ItemKind, note: str = "") -> None:
        st = _lstat(path)
        is_link = st is not None and stat.S_ISLNK(st.st_mode)
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        self.items.append(LegacyItem(self.rel(path), kind, is_dir, is_link, note))

    def unknown(self, entry: os.DirEntry[str], note: str) -> None:
        if entry.is_symlink():
            note = "a symlink (never followed)"
        self.item(Path(entry.path), ItemKind.UNKNOWN, note)

    def run(self) -> None:
        tops = {
            layout.CHAT_SESSIONS_DIR: ItemKind.CHAT_SESSIONS,
            layout.CACHE_DIR: ItemKind.CACHE,
            layout.PROMPTS_DIR: ItemKind.PROMPTS,
            layout.AIOP_ANNEX_DIR: ItemKind.AIOP_ANNEX,
        }
        if not _is_real_dir(self.root):
            return
        for entry in _entries(self.root, self.notes):
            rel = PurePosixPath(entry.name)
            real_dir = entry.is_dir(follow_symlinks=False)
            if rel == layout.LOGS_DIR:
                if real_dir:
                    self.logs(Path(entry.path))
                else:
                    self.unknown(entry, "logs is not a folder")
            elif rel == layout.COMPILED_DIR:
                if real_dir:
                    self.compiled_dir(Path(entry.path))
                else:
                    self.unknown(entry, "compiled is not a folder")
            elif rel in tops:
                self.item(Path(entry.path), tops[rel])
            elif layout.is_user_output(rel):
                self.item(Path(entry.path), ItemKind.USER_OUTPUT)
            # Anything else at the root is the user's project, not legacy output.

    def logs(self, logs: Path) -> None:
        self.containers.append(self.rel(logs))
        for entry in _entries(logs, self.notes):
            path = Path(entry.path)
            rel = self.rel(path)
            if entry.is_symlink():
                self.unknown(entry, "")
            elif rel == layout.LAST_COMPILE and entry.is_file(follow_symlinks=False):
                self.last_compile = _read_pointer(path, self.root)
                self.item(path, ItemKind.LAST_COMPILE)
            elif rel == layout.AIOP_DIR and entry.is_dir(follow_symlinks=False):
                self.aiop_dir(path)
            elif entry.is_dir(follow_symlinks=False) and classify_session(entry.name) is not (
                SessionKind.UNKNOWN
            ):
                self.sessions.append(_read_session(path, self.root))
                self.item(path, ItemKind.SESSION)
            elif layout.is_user_output(rel):
                self.item(path, ItemKind.USER_OUTPUT)
            else:
                self.unknown(entry, "not a session id or a legacy file")

    def aiop_dir(self, aiop_dir: Path) -> None:
        self.containers.append(self.rel(aiop_dir))
        first: dict[str, Path] = {}
        named: dict[str, dict[str, Path]] = {}
        for entry in _entries(aiop_dir, self.notes):
            path = Path(entry.path)
            name = entry.name
            json_name = _SESSION_NAMED_JSON.fullmatch(name)
            card_name = _SESSION_NAMED_CARD.fullmatch(name)
            if name == layout.AIOP_LATEST.name:
                self.latest = LegacyLink(path, _link_text(path) if entry.is_symlink() else None)
                self.item(path, ItemKind.AIOP_LATEST)
            elif entry.is_symlink():
                self.unknown(entry, "")
            elif entry.is_dir(follow_symlinks=False):
                if name == layout.AIOP_INDEX_DIR.name:
                    self.aiop_index(path)
                elif any(
                    _lstat(path / n) for n in (layout.AIOP_JSON, layout.RUN_CARD, layout.AIOP_ANNEX)
                ):
                    self.aiops.append(
                        _aiop(
                            AiopVariant.FOLDER,
                            self.root,
                            json_path=_file_in(path, layout.AIOP_JSON),
                            run_card_path=_file_in(path, layout.RUN_CARD),
                            folder=path,
                            named_for=name,
                        )
                    )
                    self.item(path, ItemKind.AIOP)
                else:
                    self.unknown(entry, "a folder without AIOP files")
            elif not entry.is_file(follow_symlinks=False):
                self.unknown(entry, "not a file or folder")
            elif name in (layout.AIOP_JSON, layout.RUN_CARD):
                first[name] = path
            elif json_name:
                named.setdefault(json_name["sid"], {})[layout.AIOP_JSON] = path
            elif card_name:
                named.setdefault(card_name["sid"], {})[layout.RUN_CARD] = path
            else:
                self.unknown(entry, "not an AIOP name")
        groups = [(AiopVariant.FIRST_RUN, None, first)] if first else []
        groups += [(AiopVariant.SESSION_NAMED, sid, files) for sid, files in sorted(named.items())]
        for variant, named_for, files in groups:
            found = _aiop(
                variant,
                self.root,
                json_path=files.get(layout.AIOP_JSON),
                run_card_path=files.get(layout.RUN_CARD),
                named_for=named_for,
            )
            self.aiops.append(found)
            for path in found.paths:
                self.item(path, ItemKind.AIOP)

    def aiop_index(self, index_dir: Path) -> None:
        self.containers.append(self.rel(index_dir))
        for entry in _entries(index_dir, self.notes):
            path = Path(entry.path)
            rel = self.rel(path)
            if rel == layout.AIOP_INDEX and entry.is_file(follow_symlinks=False):
                self.index_file(path, None)
            elif rel == layout.AIOP_BY_PIPELINE_DIR and entry.is_dir(follow_symlinks=False):
                self.containers.append(rel)
                for inner in _entries(path, self.notes):
                    by_name = _BY_PIPELINE_FILE.fullmatch(inner.name)
                    if by_name and inner.is_file(follow_symlinks=False):
                        self.index_file(Path(inner.path), by_name["hex"].lower())
                    else:
                        self.unknown(inner, "not a sha256:<hex>.jsonl index")
            else:
                self.unknown(entry, "not an AIOP index")

    def index_file(self, path: Path, pipeline_hash: str | None) -> None:
        notes = _Notes(self.root)
        entries = _read_jsonl(path, notes)
        self.indexes.append(LegacyAiopIndex(path, pipeline_hash, entries, notes.lines))
        self.item(path, ItemKind.AIOP_INDEX)

    def compiled_dir(self, compiled: Path) -> None:
        self.containers.append(self.rel(compiled))
        listed = _entries(compiled, self.notes)
        own = tuple(Path(e.path) for e in listed if e.name in layout.TREE_FILES)
        if own:
            self.compiled.append(_compiled_tree(compiled, None, own, self.root))
            for path in own:
                self.item(path, ItemKind.COMPILED)
        for entry in listed:
            path = Path(entry.path)
            if path in own:
                continue
            if entry.is_dir(follow_symlinks=False) and any(
                _lstat(path / name) for name in layout.TREE_FILES
            ):
                self.compiled.append(_compiled_tree(path, entry.name, (path,), self.root))
                self.item(path, ItemKind.COMPILED)
            else:
                self.unknown(entry, "not a compiled tree")

    def inventory(self) -> LegacyInventory:
        chosen = preferred_aiops(self.aiops)
        sessions = tuple(replace(s, aiop=chosen.get(s.session_id)) for s in self.sessions)
        warnings = list(self.notes.lines)
        for owner in (*sessions, *self.aiops, *self.indexes, *self.compiled):
            warnings += owner.warnings
        if self.last_compile is not None:
            warnings += self.last_compile.warnings
        return LegacyInventory(
            root=self.root,
            items=tuple(sorted(self.items, key=lambda item: item.rel)),
            containers=tuple(self.containers),
            sessions=sessions,
            aiops=tuple(self.aiops),
            aiop_indexes=tuple(self.indexes),
            aiop_latest=self.latest,
            last_compile=self.last_compile,
            compiled=tuple(self.compiled),
            warnings=tuple(warnings),
        )


def preferred_aiops(aiops: Iterable[LegacyAiop]) -> dict[str, LegacyAiop]:
    """Each matched session's AIOP; when a session has several, the most specific name wins."""
    aiops = list(aiops)
    chosen: dict[str, LegacyAiop] = {}
    for variant in reversed(_AIOP_PREFERENCE):
        for found in aiops:
            if found.variant is variant and found.session_id:
                chosen[found.session_id] = found
    return chosen


def scan_aiops(project_root: Path) -> tuple[list[LegacyAiop], list[str]]:
    """The AIOPs under `logs/aiop/`, read without any session, and problems listing it."""
    scan = _Scan(Path(project_root))
    aiop_dir = scan.root / layout.AIOP_DIR
    if _is_real_dir(scan.root / layout.LOGS_DIR) and _is_real_dir(aiop_dir):
        scan.aiop_dir(aiop_dir)
    return scan.aiops, scan.notes.lines


def scan_compiled(project_root: Path) -> list[LegacyCompiled]:
    """The top-level `compiled/` and `compiled/<name>/` trees, read without anything else."""
    scan = _Scan(Path(project_root))
    if _is_real_dir(scan.root / layout.COMPILED_DIR):
        scan.compiled_dir(scan.root / layout.COMPILED_DIR)
    return scan.compiled


def scan_legacy(project_root: Path) -> LegacyInventory:
    """Everything of the legacy layout in a project; damaged items come back with warnings."""
    scan = _Scan(Path(project_root))
    scan.run()
    return scan.inventory()


# -- index records --------------------------------------------------------------------------


def _stored_path(path: Path | None, base_path: Path) -> str | None:
    if path is None:
        return None
    return _rel(path, base_path)


def session_to_record(
    session: LegacySession,
    *,
    default_profile: str | None,
    base_path: Path,
    manifest_short_len: int = 7,
) -> RunRecord:
    """The run index record of a legacy run session (`source: legacy`).

    The contract's status is success|failed: an interrupted run is recorded as `failed`
    with `legacy_status: interrupted` in the record's extra keys, and a run whose outcome
    no file tells stays `unknown`.
    """
    if session.kind is not SessionKind.RUN:
        raise ValueError(f"{session.session_id} is a {session.kind.value} session, not a run")
    digest = session.manifest_hash_for(default_profile)
    status, extra = session.status, {}
    if status == "interrupted":
        status, extra = "failed", {"legacy_status": "interrupted"}
    aiop = session.aiop
    aiop_path = (aiop.json_path or aiop.folder or aiop.run_card_path) if aiop else None
    return RunRecord(
        run_id=session.session_id,
        pipeline_slug=session.pipeline_slug or "",
        profile=session.profile or default_profile,
        manifest_hash=digest,
        manifest_short=digest[:manifest_short_len] if digest else None,
        started_at=utc_now_iso(session.started_at) if session.started_at else None,
        finished_at=utc_now_iso(session.finished_at) if session.finished_at else None,
        status=status,
        duration_ms=session.duration_ms,
        rows_in=session.rows_in,
        rows_out=session.rows_out,
        run_logs_path=_stored_path(session.path, base_path),
        aiop_path=_stored_path(aiop_path, base_path),
        build_manifest_path=_stored_path(session.manifest_path, base_path),
        fs_mode="legacy",
        source="legacy",
        legacy_session_id=session.session_id,
        extra=extra,
    )
