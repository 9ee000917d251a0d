"""AI observability packs (contract.md §6): `summary.json`, `run-card.md`, `annex/`.

A pack is a pure function of a run's events and metrics, so the same code writes it at the
end of a run and regenerates it later from the run's logs (`osiris aiop export`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.core.fsio import atomic_write_bytes, canonical_json, open_regular, pretty_json
from osiris.errors import OsirisError

SUMMARY = "summary.json"
RUN_CARD = "run-card.md"
ANNEX = "annex"
ANNEX_SHARDS = ("events.ndjson", "metrics.ndjson", "errors.ndjson")
ERROR_EVENTS = {"step_error", "run_error", "dual_write_error"}


@dataclass(frozen=True)
class AiopPack:
    """The files of one pack, ready to write."""

    summary: dict[str, Any]
    run_card: str
    events: list[dict[str, Any]]
    metrics: list[dict[str, Any]]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") in ERROR_EVENTS]


def _first(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next((e for e in events if e.get("event") == name), {})


def _last(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next((e for e in reversed(events) if e.get("event") == name), {})


def _steps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for event in events:
        step_id = event.get("step_id")
        name = event.get("event", "")
        if not step_id or not name.startswith("step_"):
            continue
        step = steps.setdefault(step_id, {"step_id": step_id, "status": "pending"})
        if name == "step_start":
            step.update(component=event.get("component"), mode=event.get("mode"), status="running")
        elif name == "step_complete":
            step.update(
                status="success",
                rows_in=event.get("rows_in", 0),
                rows_out=event.get("rows_out", 0),
                duration_ms=event.get("duration_ms", 0),
            )
        elif name == "step_error":
            step.update(status="failed", error=event.get("error"))
        elif name == "step_interrupted":
            step.update(status="interrupted")
        elif name == "step_skipped":
            step.update(status="skipped", reason=event.get("reason"))
    return list(steps.values())


def _errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # `run_error` restates a failed step's error; it is kept only when no step failed
    # (e.g. an interrupted run), so a report never shows the same failure twice.
    found = [e for e in events if e.get("event") in ERROR_EVENTS]
    if any(e.get("event") != "run_error" for e in found):
        found = [e for e in found if e.get("event") != "run_error"]
    keys = ("event", "step_id", "error", "ts")
    return [{k: e[k] for k in keys if e.get(k) is not None} for e in found]


def build_pack(events: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> AiopPack:
    """Derive the pack of a run from its events and metrics."""
    start = _first(events, "run_start")
    end = _last(events, "run_end")
    steps = _steps(events)
    status = end.get("status") or ("failed" if any(s["status"] == "failed" for s in steps) else "")
    summary = {
        "run_id": start.get("run_id") or start.get("session"),
        "pipeline_slug": start.get("pipeline_slug") or start.get("pipeline_id"),
        "profile": start.get("profile"),
        "manifest_hash": start.get("manifest_hash"),
        "manifest_short": start.get("manifest_short"),
        "started_at": start.get("ts"),
        "completed_at": end.get("ts"),
        "status": status or "interrupted",
        "rows_in": sum(s.get("rows_out", 0) for s in steps if s.get("mode") == "extract"),
        "rows_out": sum(s.get("rows_in", 0) for s in steps if s.get("mode") == "write"),
        "duration_ms": end.get("duration_ms"),
        "tags": start.get("tags", []),
        "fs_mode": start.get("fs_mode"),
        "steps": steps,
        "errors": _errors(events),
        "counts": {"events": len(events), "metrics": len(metrics)},
    }
    return AiopPack(
        summary=summary, run_card=render_run_card(summary), events=events, metrics=metrics
    )


def render_run_card(summary: dict[str, Any]) -> str:
    """A short Markdown report of one run."""
    lines = [
        f"# Run {summary['run_id']}: {summary['status']}",
        "",
        f"- Pipeline: `{summary['pipeline_slug']}`"
        + (f" (profile `{summary['profile']}`)" if summary.get("profile") else ""),
        f"- Manifest: `{summary.get('manifest_hash') or 'unknown'}`",
        f"- Started: {summary.get('started_at')}  Completed: {summary.get('completed_at')}",
        f"- Duration: {summary.get('duration_ms')} ms",
        f"- Rows in: {summary['rows_in']}  Rows out: {summary['rows_out']}",
    ]
    if summary.get("tags"):
        lines.append(f"- Tags: {', '.join(summary['tags'])}")
    lines += ["", "| step | status | rows in | rows out | ms |", "|---|---|---|---|---|"]
    for step in summary["steps"]:
        lines.append(
            f"| {step['step_id']} | {step['status']} | {step.get('rows_in', '')} | "
            f"{step.get('rows_out', '')} | {step.get('duration_ms', '')} |"
        )
    if summary["errors"]:
        lines += ["", "## Errors", ""]
        lines += [f"- `{e.get('step_id', '-')}`: {e.get('error')}" for e in summary["errors"]]
    return "\n".join(lines) + "\n"


def _ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(canonical_json(r) + "\n" for r in records).encode("utf-8")


def write_pack(aiop_dir: Path, pack: AiopPack) -> list[Path]:
    """Write a pack into a new folder; an existing pack is never overwritten."""
    aiop_dir = Path(aiop_dir)
    if (aiop_dir / SUMMARY).exists():
        raise OsirisError(
            "an AIOP pack already exists here and is never overwritten", path=aiop_dir
        )
    files = {
        SUMMARY: pretty_json(pack.summary).encode("utf-8"),
        RUN_CARD: pack.run_card.encode("utf-8"),
        f"{ANNEX}/events.ndjson": _ndjson(pack.events),
        f"{ANNEX}/metrics.ndjson": _ndjson(pack.metrics),
        f"{ANNEX}/errors.ndjson": _ndjson(pack.errors),
    }
    written = []
    # summary.json last: its presence marks a complete pack.
    for rel in sorted(files, key=lambda r: r == SUMMARY):
        atomic_write_bytes(aiop_dir / rel, files[rel])
        written.append(aiop_dir / rel)
    return written


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, skipping a torn or damaged line instead of failing."""
    try:
        with open_regular(path) as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []  # missing, or not a regular file (a link or a pipe is never read)
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def pack_from_run_dir(run_dir: Path) -> AiopPack:
    """Rebuild a run's pack from its `events.jsonl` and `metrics.jsonl`."""
    return build_pack(read_jsonl(run_dir / "events.jsonl"), read_jsonl(run_dir / "metrics.jsonl"))
