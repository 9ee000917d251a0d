"""Index records and run folders written by upstream Osiris 0.5.x, read as this version's.

Upstream 0.5.x wrote the contract layout with its own quirks (docs/migration/upstream-trees.md):
its records have no `started_at`/`finished_at` (only `run_ts`, an ISO time, and
`duration_ms`), no `fs_mode`, the raw manifest `pipeline.id` as `pipeline_slug` (which may
hold spaces or parentheses), absolute paths, and its folder names lower-case every token
and turn `_` into `-`. Contract.md §6 asks readers to accept such records; this module is
the one place that knows how.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

UPSTREAM_05 = "upstream-0.5"
# The key a normalized record keeps the raw upstream pipeline id under.
UPSTREAM_PIPELINE_ID = "upstream_pipeline_id"
_DROPPED = re.compile(r"[^a-z0-9_-]")
_RUNS_OF_DASHES = re.compile(r"-{2,}")


def upstream_token(value: str) -> str:
    """A token as upstream 0.5.x wrote it into folder names: lower-case, `_` and spaces
    as `-`, anything else outside `[a-z0-9-]` dropped."""
    lowered = value.strip().lower().replace(" ", "-").replace("_", "-")
    return _RUNS_OF_DASHES.sub("-", _DROPPED.sub("", lowered)).strip("-_")


def folder_key(run_id: str) -> str:
    """The key a run id and a folder named after it share in every version's spelling
    (upper-case ids with `_` in the index, lower-case with `-` in 0.5.x folder names)."""
    return run_id.strip().lower().replace("_", "-")


def upstream05_manifest_hash(manifest: Mapping[str, Any], profile: str | None) -> str:
    """The hash upstream 0.5.x gave a manifest it compiled (its build folders carry it): as
    this version's, but it keeps `meta.run_id` and escapes non-ASCII text."""
    import copy
    import hashlib
    import json

    stripped = copy.deepcopy(dict(manifest))
    meta = stripped.get("meta")
    if isinstance(meta, dict):
        for key in ("generated_at", "manifest_hash", "manifest_short"):
            meta.pop(key, None)
    fingerprints = (stripped.get("pipeline") or {}).get("fingerprints")
    if isinstance(fingerprints, dict):
        fingerprints.pop("manifest_fp", None)
    payload = {"manifest": stripped, "profile": profile or ""}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_upstream_05(data: Mapping[str, Any]) -> bool:
    """True for an index record as upstream 0.5.x appended it."""
    run_ts = data.get("run_ts")
    return (
        "started_at" not in data
        and "fs_mode" not in data
        and isinstance(run_ts, str)
        and "T" in run_ts
        and ("+" in run_ts or run_ts.endswith("Z"))
    )


def normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """An upstream 0.5.x record with this version's keys: start and finish from `run_ts`
    and `duration_ms`, and the pipeline slug its folders use (the raw id kept beside it)."""
    from osiris.core.run_index import parse_moment, utc_now_iso

    out = dict(data)
    started = parse_moment(data.get("run_ts"))
    if started is not None:
        out["started_at"] = utc_now_iso(started)
        duration = data.get("duration_ms")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            out["finished_at"] = utc_now_iso(started + timedelta(milliseconds=duration))
    raw = data.get("pipeline_slug")
    if isinstance(raw, str) and raw and upstream_token(raw) != raw:
        out["pipeline_slug"] = upstream_token(raw)
        out[UPSTREAM_PIPELINE_ID] = raw
    out.setdefault("written_by", UPSTREAM_05)
    return out


# -- run folders and packs ------------------------------------------------------------------

# Upstream's AIOP status words in the contract's.
_PACK_STATUS = {"completed": "success", "success": "success", "failed": "failed"}


def is_upstream_events(first: Mapping[str, Any]) -> bool:
    """True when a run folder's first event is upstream's session start, which names
    neither the run nor the pipeline (this version's `run_start` names both)."""
    return (
        first.get("event") == "run_start"
        and "session_dir" in first
        and "run_id" not in first
        and "pipeline_slug" not in first
    )


def folder_facts(events: list[dict[str, Any]], folder_name: str) -> dict[str, Any]:
    """What an upstream run folder's events say: run id, pipeline, profile, status, times.

    A run upstream never indexed (it failed) is found this way; one without a `run_end`
    may still be running, so it stays `unfinished`."""
    from osiris.core import session_events
    from osiris.core.fs_paths import slugify
    from osiris.core.run_index import utc_now_iso

    facts = session_events.run_facts(events, [])
    if facts.pipeline_id:
        pipeline = upstream_token(facts.pipeline_id)
    elif facts.pipeline_ref:
        # A compile that failed inside `osiris run` leaves only the OML file it was given.
        pipeline = slugify(
            facts.pipeline_ref.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        )
    else:
        pipeline = ""
    status = {"success": "success", "failed": "failed"}.get(facts.status)
    if status is None:
        status = "failed" if facts.finished_at else None
    session = events[0].get("session") if events else None
    return {
        # The adapter's run id; a run that never reached it has its session id (a folder
        # the migrator moved keeps it), else the folder's name.
        "run_id": facts.run_id
        or (session if isinstance(session, str) and session else folder_name),
        "pipeline_slug": pipeline,
        "profile": facts.profile,
        "status": status,
        "started_at": utc_now_iso(facts.started_at) if facts.started_at else None,
        "finished_at": utc_now_iso(facts.finished_at) if facts.finished_at else None,
        "duration_ms": facts.duration_ms,
        "error": facts.error,
    }


def is_placeholder(summary: Mapping[str, Any]) -> bool:
    """True for the `summary.json` 0.5.x's `osiris logs aiop export` wrote in place of a
    pack it could not make (a note, no AIOP document)."""
    return "note" in summary and "run" not in summary and "evidence" not in summary


def pack_facts(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What an upstream 0.5.x `summary.json` says: its old AIOP document keeps the status
    under `run`, a placeholder export names the run and pipeline at the top."""
    found = summary.get("run")
    run: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    pipeline = summary.get("pipeline")
    status = run.get("status") or summary.get("status")
    return {
        "run_id": summary.get("run_id") if isinstance(summary.get("run_id"), str) else None,
        "pipeline_slug": upstream_token(pipeline) if isinstance(pipeline, str) else None,
        "status": _PACK_STATUS.get(status) if isinstance(status, str) else None,
        "started_at": run.get("started_at") or summary.get("timestamp"),
    }
