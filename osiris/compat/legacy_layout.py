"""The legacy (0.3) layout as data: its paths, file names and session ids (legacy-layout.md).

This module and its siblings in `osiris/compat/` are the only places that know these paths.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import PurePosixPath

# legacy-layout.md §1: project-relative paths.
LOGS_DIR = PurePosixPath("logs")
COMPILED_DIR = PurePosixPath("compiled")
LAST_COMPILE = LOGS_DIR / ".last_compile.json"
AIOP_DIR = LOGS_DIR / "aiop"
AIOP_INDEX_DIR = AIOP_DIR / "index"
AIOP_INDEX = AIOP_INDEX_DIR / "runs.jsonl"
AIOP_BY_PIPELINE_DIR = AIOP_INDEX_DIR / "by_pipeline"
AIOP_LATEST = AIOP_DIR / "latest"
CHAT_SESSIONS_DIR = PurePosixPath(".osiris_sessions")
CACHE_DIR = PurePosixPath(".osiris_cache")
PROMPTS_DIR = PurePosixPath(".osiris_prompts")
AIOP_ANNEX_DIR = PurePosixPath(".aiop-annex")

# User outputs (HTML report, exports, bundles): never moved, never written.
USER_OUTPUT_DIRS = (PurePosixPath("dist"), PurePosixPath("exports"))
USER_OUTPUT_SUFFIX = ".zip"

# legacy-layout.md §2: files inside `logs/<session_id>/`.
EVENTS = "events.jsonl"
METRICS = "metrics.jsonl"
ARTIFACTS = "artifacts"
OSIRIS_LOG = "osiris.log"
DEBUG_LOG = "debug.log"
SESSION_MANIFEST = "manifest.yaml"
SESSION_CFG = "cfg"
SESSION_COMPILED = "compiled"
STATUS_JSON = "status.json"
LAST_JSON = ".last.json"
CLEANED_CONFIG = "cleaned_config.json"

# legacy-layout.md §2-3: a compiled tree (a compile session's `compiled/`, or a top-level one).
TREE_MANIFEST = "manifest.yaml"
TREE_CFG = "cfg"
TREE_META = "meta.json"
TREE_EFFECTIVE_CONFIG = "effective_config.json"
TREE_FILES = (TREE_MANIFEST, TREE_CFG, TREE_META, TREE_EFFECTIVE_CONFIG)

# legacy-layout.md §4: AIOP names under `logs/aiop/`.
AIOP_JSON = "aiop.json"
RUN_CARD = "run-card.md"
AIOP_ANNEX = "annex"
ANNEX_SHARDS = ("timeline.ndjson", "metrics.ndjson", "errors.ndjson")
GZ_SUFFIX = ".gz"
BY_PIPELINE_PREFIX = "sha256:"

# The files whose contents the legacy reader parses (the rest it only looks up).
PARSED_FILES = frozenset(
    {EVENTS, METRICS, STATUS_JSON, SESSION_MANIFEST, LAST_JSON, TREE_META, TREE_EFFECTIVE_CONFIG}
    | {AIOP_JSON}
)


def aiop_json_name(session_id: str) -> str:
    """`aiop.<session_id>.json`, the name later runs give their AIOP."""
    return f"aiop.{session_id}.json"


def run_card_name(session_id: str) -> str:
    """`run-card.<session_id>.md`, the name later runs give their run card."""
    return f"run-card.{session_id}.md"


def by_pipeline_name(legacy_hash_hex: str) -> str:
    """`sha256:<hex>.jsonl`, a per-pipeline AIOP index file (with a colon in its name)."""
    return f"{BY_PIPELINE_PREFIX}{legacy_hash_hex}.jsonl"


class SessionKind(str, Enum):
    """What wrote a `logs/<session_id>/` folder, told by the id's prefix alone."""

    COMPILE = "compile"
    RUN = "run"
    CONNECTIONS = "connections"
    COMPONENTS_VALIDATE = "components_validate"
    PROMPTS_BUILD_CONTEXT = "prompts_build_context"
    CHAT = "chat"
    EPHEMERAL = "ephemeral"
    TEST_VALIDATION = "test_validation"
    GENERIC = "generic"
    UNKNOWN = "unknown"


# Kinds whose id is `<prefix>_<epoch_ms>`; the prefix is the kind's value.
_EPOCH_MS_KINDS = (
    SessionKind.COMPILE,
    SessionKind.RUN,
    SessionKind.CONNECTIONS,
    SessionKind.COMPONENTS_VALIDATE,
    SessionKind.PROMPTS_BUILD_CONTEXT,
)
_STAMP = r"(?P<stamp>\d{8}_\d{6})"
_STAMP_FORMAT = "%Y%m%d_%H%M%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PATTERNS: tuple[tuple[SessionKind, re.Pattern[str]], ...] = (
    *((kind, re.compile(rf"{kind.value}_(?P<ms>\d+)")) for kind in _EPOCH_MS_KINDS),
    (SessionKind.CHAT, re.compile(r"chat_(?P<s>\d+)")),
    (SessionKind.EPHEMERAL, re.compile(r"ephemeral_(?P<cmd>[A-Za-z0-9_-]+?)_(?P<s>\d+)")),
    (SessionKind.TEST_VALIDATION, re.compile(rf"test_validation_(?P<name>[\w.-]+)_{_STAMP}")),
    (SessionKind.GENERIC, re.compile(rf"{_STAMP}_(?P<hex>[0-9a-f]{{8}})")),
)


def _match(name: str) -> tuple[SessionKind, re.Match[str] | None]:
    for kind, pattern in _PATTERNS:
        found = pattern.fullmatch(name)
        if found:
            return kind, found
    return SessionKind.UNKNOWN, None


def classify_session(name: str) -> SessionKind:
    """The kind of a session folder name; UNKNOWN for any name legacy-layout.md §2 does not list."""
    return _match(name)[0]


def session_time(name: str) -> datetime | None:
    """The UTC start time encoded in a session id, or None when the id encodes none."""
    found = _match(name)[1]
    if found is None:
        return None
    groups = found.groupdict()
    try:
        if groups.get("ms") is not None:
            return datetime.fromtimestamp(int(groups["ms"]) / 1000, tz=timezone.utc)
        if groups.get("s") is not None:
            return datetime.fromtimestamp(int(groups["s"]), tz=timezone.utc)
        # The old tool wrote local time without a zone; with nothing better, read it as UTC.
        return datetime.strptime(groups["stamp"], _STAMP_FORMAT).replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def new_session_id(kind: SessionKind, now: datetime) -> str:
    """`<kind>_<epoch_ms>` for the kinds the legacy writer creates (compile, run, …)."""
    if kind not in _EPOCH_MS_KINDS:
        raise ValueError(f"session kind {kind.value!r} has no `<prefix>_<epoch_ms>` id")
    elapsed = now.astimezone(timezone.utc) - _EPOCH
    return f"{kind.value}_{elapsed // timedelta(milliseconds=1)}"


def is_user_output(rel: PurePosixPath) -> bool:
    """True for user outputs no Osiris command may move: `dist/`, `exports/`, bundle `*.zip`."""
    if rel.suffix == USER_OUTPUT_SUFFIX and rel.parent in (PurePosixPath("."), LOGS_DIR):
        return True
    return any(rel == top or top in rel.parents for top in USER_OUTPUT_DIRS)
