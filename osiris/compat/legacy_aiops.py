"""A legacy AIOP (legacy-layout.md §4) as typed values: its three naming variants, one AIOP's
files read and matched to a session, the AIOP index and the `latest` link.

`legacy_reader` finds these files while it scans `logs/aiop/` and reads each AIOP here. Damage
never raises: it becomes warnings naming the file, and the AIOP is kept with what could be read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_files import Notes, dig, entries, is_real_dir, read_json, text

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


class AiopVariant(str, Enum):
    """The three AIOP naming schemes of legacy-layout.md §4."""

    FIRST_RUN = "first_run"  # logs/aiop/aiop.json + run-card.md
    SESSION_NAMED = "session_named"  # logs/aiop/aiop.<sid>.json + run-card.<sid>.md
    FOLDER = "folder"  # logs/aiop/<sid>/{aiop.json, run-card.md, annex/}


# When a session has several AIOPs, the most specific name wins.
_AIOP_PREFERENCE = (AiopVariant.FOLDER, AiopVariant.SESSION_NAMED, AiopVariant.FIRST_RUN)


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
    pipeline_name: str | None = None  # `pipeline.name`: the OML name ("unnamed": none)


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


def _aiop(
    variant: AiopVariant,
    root: Path,
    *,
    json_path: Path | None,
    run_card_path: Path | None,
    folder: Path | None = None,
    named_for: str | None = None,
) -> LegacyAiop:
    notes = Notes(root)
    where = folder or json_path or run_card_path
    assert where is not None  # every variant is found through one of these
    content_id = status = pipeline_name = None
    if json_path is None:
        notes.add(where, "has no AIOP JSON")
    else:
        data = read_json(json_path, notes) or {}
        content_id = next((v for keys in _AIOP_ID_KEYS if (v := text(dig(data, keys)))), None)
        status = next((v for keys in _AIOP_STATUS_KEYS if (v := text(dig(data, keys)))), None)
        pipeline_name = text(dig(data, ("pipeline", "name")))
    if content_id and named_for and content_id != named_for:
        notes.add(where, f"names session {content_id} inside but {named_for} in its file name")
    session_id = content_id or named_for
    if session_id is None:
        notes.add(where, "cannot be matched to a session")
    shards: tuple[Path, ...] = ()
    if folder is not None:
        annex = folder / layout.AIOP_ANNEX
        names = {*layout.ANNEX_SHARDS, *(shard + layout.GZ_SUFFIX for shard in layout.ANNEX_SHARDS)}
        if is_real_dir(annex):
            listed = entries(annex, notes)
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
        pipeline_name=pipeline_name,
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
