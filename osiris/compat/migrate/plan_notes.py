"""Pieces of the migration planner (planner.py) apart from its class: why an item has no contract
home, why a run goes where it goes, the `summary.json` it writes for a legacy run's AIOP, and
the build it records for each placed compile, and why a linked legacy root is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_reader import ItemKind
from osiris.compat.legacy_session import UNKNOWN_PIPELINE, LegacySession
from osiris.core import aiop
from osiris.core.fs_paths import RunNaming
from osiris.core.fsio import pretty_json
from osiris.core.run_index import utc_now_iso

# legacy-layout.md §5: items with no contract home, archived verbatim, and why.
_NO_HOME = {
    ItemKind.AIOP_INDEX: "legacy AIOP index (the run index replaces it)",
    ItemKind.AIOP_LATEST: "the logs/aiop/latest link (latest pointers replace it)",
    ItemKind.PROMPTS: "prompt files (no contract home)",
    ItemKind.AIOP_ANNEX: "manual AIOP export (no contract home)",
    ItemKind.UNKNOWN: "not a legacy item Osiris knows",
}


@dataclass(frozen=True)
class _Build:
    rel: PurePosixPath
    slug: str
    digest: str
    profile: str | None


_PIPELINE_FROM = {
    "oml_name": "the name in its OML file",
    "oml_file": "its OML file's name",
    "aiop": "its AIOP",
}


def _run_note(session: LegacySession) -> str:
    """Why a run goes where it goes when its own files do not say it plainly."""
    notes = []
    if session.pipeline_from == "none":
        notes.append(f"no file names its pipeline: pipeline '{UNKNOWN_PIPELINE}'")
    elif session.pipeline_from in _PIPELINE_FROM:
        notes.append(f"pipeline from {_PIPELINE_FROM[session.pipeline_from]}")
    if session.failed_in == "compile":
        notes.append("its compile failed")
    elif session.status == "interrupted":
        notes.append("stopped before its end")
    if session.warnings:
        more = f" (and {len(session.warnings) - 1} more)" if len(session.warnings) > 1 else ""
        notes.append(f"damaged, moved as it is: {session.warnings[0]}{more}")
    return "; ".join(notes)


def _summary(
    session: LegacySession,
    naming: RunNaming,
    events: list[dict[str, Any]],
    metrics: list[dict[str, Any]],
) -> str:
    """The contract `summary.json` of a legacy run, derived from its events and metrics."""
    derived = aiop.build_pack(events, metrics).summary
    status = session.status if session.status in ("success", "failed") else "unknown"
    if session.status == "interrupted":
        status = "failed"
    summary = {
        **derived,
        "run_id": naming.run_id,
        "pipeline_slug": naming.pipeline_slug,
        "profile": naming.profile,
        "manifest_hash": naming.manifest_hash,
        "manifest_short": naming.manifest_short,
        "started_at": utc_now_iso(session.started_at) if session.started_at else None,
        "completed_at": utc_now_iso(session.finished_at) if session.finished_at else None,
        "status": status,
        "rows_in": session.rows_in,
        "rows_out": session.rows_out,
        "duration_ms": session.duration_ms,
        "tags": [],
        "fs_mode": "legacy",
        "source": "migrated",
        "legacy_session_id": session.session_id,
        "legacy_aiop": layout.AIOP_JSON,
    }
    return pretty_json(summary)


def _link_message(root: Path, target: Path) -> str:
    """The conflict of a legacy root that is a symlink to `target`."""
    resolved = (root / target).resolve() if not target.is_absolute() else target.resolve()
    try:
        resolved.relative_to(root.resolve())
        where = "inside the project"
    except ValueError:
        where = "outside the project"
    return (
        f"is a symlink to {target} ({where}); the migrator never follows links: "
        "replace it with the folder it points to, or remove it"
    )
