"""Synthetic runs for reader tests: index records and run-log folders as the runner writes them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from osiris.core.run_index import AmbiguousRunId, RunIndexWriter, RunRecord
from osiris.core.run_sources import (
    ContractSource,
    ProjectDirs,
    RunFilter,
    RunFolder,
)
from osiris.errors import NotFound

HASH = "3f9a" * 16


def record(run_id: str, started: str, slug: str = "orders", **values: Any) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        pipeline_slug=slug,
        profile="dev",
        manifest_hash=HASH,
        started_at=started,
        finished_at=started.replace(":00.000Z", ":05.000Z"),
        status="success",
        run_logs_path=f"run_logs/dev/{slug}/{run_id}",
        aiop_path=f"aiop/dev/{slug}/{HASH[:7]}-{HASH}/{run_id}",
        **values,
    )


def write_run(
    base: Path, rec: RunRecord, *, ended: bool = True, log_lines: Iterable[str] = ()
) -> Path:
    """A run-log folder as the runner writes it (run_start first, run_end last)."""
    folder = base / (rec.run_logs_path or f"run_logs/{rec.run_id}")
    folder.mkdir(parents=True)
    events = [
        {
            "ts": rec.started_at,
            "session": rec.run_id,
            "event": "run_start",
            "run_id": rec.run_id,
            "pipeline_slug": rec.pipeline_slug,
            "profile": rec.profile,
            "manifest_hash": rec.manifest_hash,
            "tags": list(rec.tags),
        },
        {"ts": rec.started_at, "session": rec.run_id, "event": "step_start", "step_id": "a"},
    ]
    if ended:
        events.append(
            {
                "ts": rec.finished_at,
                "session": rec.run_id,
                "event": "run_end",
                "status": rec.status,
                "duration_ms": 5000,
            }
        )
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (folder / "metrics.jsonl").write_text('{"metric": "rows_read", "value": 3}\n')
    (folder / "osiris.log").write_text("".join(f"{line}\n" for line in log_lines))
    return folder


def dirs_of(base: Path) -> ProjectDirs:
    return ProjectDirs(base, base / ".osiris/index", base / "run_logs", base / "aiop")


def contract_source(base: Path) -> ContractSource:
    return ContractSource(base, base / ".osiris/index", base / "run_logs", base / "aiop")


def index(base: Path, *records: RunRecord) -> None:
    RunIndexWriter(base / ".osiris/index").append_many(records)


class LegacyStub:
    """A second source shaped like the compat layer's legacy source."""

    name = "legacy"

    def __init__(self, base: Path, records: list[RunRecord]) -> None:
        self.base = base
        self.records = [replace(r, source="legacy") for r in records]
        self.warnings: list[str] = []

    def runs(self, run_filter: RunFilter) -> list[RunRecord]:
        self.warnings = ["logs/run_1: skipped a damaged line 3"]
        found = [r for r in self.records if run_filter.matches(r)]
        return found[: run_filter.limit] if run_filter.limit else found

    def get(self, run_id_or_prefix: str) -> RunRecord:
        wanted = run_id_or_prefix.lower()
        exact = [r for r in self.records if r.run_id.lower() == wanted]
        found = exact or [r for r in self.records if r.run_id.lower().startswith(wanted)]
        if not found:
            raise NotFound("not in the legacy layout")
        if len(found) > 1:
            raise AmbiguousRunId(run_id_or_prefix, found)
        return found[0]

    def resolve_path(self, stored: str | None) -> Path | None:
        return self.base / "legacy-root" / stored if stored else None

    def log_folders(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        return []

    def packs(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        return []
