"""One reader interface over every place runs are recorded (contract.md §6, compat.md §2).

A `RunSource` answers four questions: which runs it indexed, which run-log folders and
which AIOP packs it holds (indexed or not), and where a stored path points. `RunCatalog`
asks its sources in order (the contract source first) and merges the answers, so the
compat layer appends a legacy source, whose records carry `source: "legacy"`, without any
command changing (`osiris.compat.fallback.catalog_for`; this module knows no legacy path).

What one folder on disk says lives in `run_folders`, the project's folders in
`project_dirs`; both are re-exported here, the entry point of every reader.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from osiris.core import foreign_records
from osiris.core.foreign_records import folder_key
from osiris.core.fsio import open_regular
from osiris.core.project_dirs import ProjectDirs
from osiris.core.project_dirs import light_dirs as light_dirs
from osiris.core.run_folders import (
    EVENTS,
    SUMMARY,
    RunFolder,
    _best_packs,
    first_line,
    folders_holding,
    log_facts,
    pack_facts,
)
from osiris.core.run_folders import STATUS as STATUS
from osiris.core.run_folders import TAIL_BYTES as TAIL_BYTES
from osiris.core.run_folders import TOMBSTONE as TOMBSTONE
from osiris.core.run_folders import UNFINISHED as UNFINISHED
from osiris.core.run_folders import display_path as display_path
from osiris.core.run_folders import edge_events as edge_events
from osiris.core.run_folders import is_regular_file as is_regular_file
from osiris.core.run_folders import is_tombstone as is_tombstone
from osiris.core.run_folders import json_line as json_line
from osiris.core.run_folders import read_events as read_events
from osiris.core.run_folders import read_json_object as read_json_object
from osiris.core.run_index import (
    AmbiguousRunId,
    RunIndexReader,
    RunRecord,
    parse_moment,
    split_run_ref,
)
from osiris.core.run_order import newest_first, order_key
from osiris.errors import NotFound

# A run's index record is appended when it ends, so it lies after the run's start in the
# index; reading back to the oldest wanted start (with slack for clock skew) is enough.
_CLOCK_SLACK = timedelta(days=1)
_FIRST_BATCH = 256
RUNS_HINT = "osiris runs list shows run ids"


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing wants; every field left at None matches everything."""

    pipeline: str | None = None
    profile: str | None = None
    status: str | None = None
    tag: str | None = None
    since: datetime | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.tag is not None:  # tags are lower-case (tags.py)
            object.__setattr__(self, "tag", self.tag.strip().lower())

    def matches(self, item: RunRecord | RunFolder) -> bool:
        """True when a record or folder passes every filter (the limit is not applied here)."""
        if self.pipeline is not None and item.pipeline_slug != self.pipeline:
            return False
        if self.profile is not None and item.profile != self.profile:
            return False
        if self.status is not None and item.status != self.status:
            return False
        if self.tag is not None and self.tag not in item.tags:
            return False
        if self.since is not None:
            started = parse_moment(item.started_at)
            return started is not None and started >= self.since
        return True

    def query_args(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class RunSource(Protocol):
    """A place runs are recorded in, asked by `RunCatalog` in order.

    Every method reads only; problems met (damaged lines, unreadable files) never raise but
    are described in `warnings`, which each call resets. Listings are newest first.
    """

    name: str
    warnings: list[str]

    def runs(self, run_filter: RunFilter) -> Iterable[RunRecord]:
        """Indexed runs passing the filter, newest first, at most `run_filter.limit`."""
        ...

    def get(self, run_id_or_prefix: str) -> RunRecord:
        """The run with this id (any case) or the only one starting with it.

        Raises `AmbiguousRunId` (with its candidates) or `NotFound`.
        """
        ...

    def resolve_path(self, stored: str | None) -> Path | None:
        """The absolute path a record's stored path names (None when it has none)."""
        ...

    def log_folders(
        self, run_filter: RunFilter, *, prefix: str | None = None
    ) -> Iterable[RunFolder]:
        """Run-log folders on disk, indexed or not, whose run id starts with `prefix`."""
        ...

    def packs(self, run_filter: RunFilter, *, prefix: str | None = None) -> Iterable[RunFolder]:
        """Complete AIOP packs on disk, indexed or not, whose run id starts with `prefix`."""
        ...

    def pack_of(self, record: RunRecord) -> RunFolder | None:
        """The complete AIOP pack of one of this source's runs; None when it has none."""
        ...

    def pack_json(self, pack: RunFolder) -> str:
        """The JSON text `osiris aiop show` prints for one of this source's packs."""
        ...


class ContractSource:
    """The contract layout: `.osiris/index`, `run_logs/` and `aiop/` of one project."""

    name = "contract"

    def __init__(
        self, base_path: Path, index_dir: Path, run_logs_dir: Path, aiop_dir: Path
    ) -> None:
        self.base_path = Path(base_path)
        self.run_logs_dir = Path(run_logs_dir)
        self.aiop_dir = Path(aiop_dir)
        self.reader = RunIndexReader(
            Path(index_dir), self.base_path, roots=(self.run_logs_dir, self.aiop_dir)
        )
        self.warnings: list[str] = []
        self._upstream: bool | None = None

    def runs(self, run_filter: RunFilter) -> list[RunRecord]:
        found = self.reader.query(**run_filter.query_args())
        self.warnings = list(self.reader.warnings)
        if self._started_by_upstream():
            unindexed = [r for r in self._unindexed() if run_filter.matches(r)]
            found = newest_first([*found, *unindexed])[: run_filter.limit or None]
        return found

    def get(self, run_id_or_prefix: str) -> RunRecord:
        try:
            return self.reader.get(run_id_or_prefix)
        except AmbiguousRunId:
            raise
        except NotFound:
            pipeline, wanted = split_run_ref(run_id_or_prefix)
            matches = [
                r
                for r in (self._unindexed() if self._started_by_upstream() else [])
                if folder_key(r.run_id).startswith(folder_key(wanted))
                and pipeline in (None, r.pipeline_slug.lower())
            ]
            exact = [r for r in matches if folder_key(r.run_id) == folder_key(wanted)]
            if len(exact or matches) == 1:
                return (exact or matches)[0]
            if matches:
                raise AmbiguousRunId(run_id_or_prefix, matches) from None
            raise
        finally:
            self.warnings = list(self.reader.warnings)

    def _started_by_upstream(self) -> bool:
        """True when upstream 0.5.x began this index: it never indexed a failed run."""
        if self._upstream is None:
            self._upstream = foreign_records.is_upstream_05(first_line(self.reader.paths.runs))
        return self._upstream

    def _unindexed(self) -> list[RunRecord]:
        """Run folders the index does not know (0.5.x failures), as records.

        A folder a record names is known without reading it; only the others are read."""
        records = self.reader.query()
        named = {self.reader.resolve_path(r.run_logs_path) for r in records}
        known = {folder_key(r.run_id) for r in records}
        found = []
        for path in folders_holding(self.run_logs_dir, (EVENTS,)):
            if path in named:
                continue
            facts = log_facts(path)
            if folder_key(facts.run_id) not in known:
                found.append(facts.as_record(self.base_path))
        return found

    def resolve_path(self, stored: str | None) -> Path | None:
        return self.reader.resolve_path(stored)

    def log_folders(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        facts = [log_facts(path) for path in folders_holding(self.run_logs_dir, (EVENTS,))]
        return self._joined(facts, run_filter, prefix)

    def packs(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        facts = [pack_facts(path) for path in folders_holding(self.aiop_dir, (SUMMARY,))]
        # One pack per run: 0.5.x exports left a placeholder beside the real one.
        by_run: dict[str, list[RunFolder]] = {}
        for found in facts:
            by_run.setdefault(folder_key(found.run_id), []).append(found)
        best = [pack for group in by_run.values() for pack in _best_packs(group)]
        return self._joined(best, run_filter, prefix)

    def pack_of(self, record: RunRecord) -> RunFolder | None:
        path = self.resolve_path(record.aiop_path)
        if path is None or not (path / SUMMARY).is_file():
            # 0.5.x wrote some packs under another profile than its record says.
            wanted = folder_key(record.run_id)
            named = (p for p in folders_holding(self.aiop_dir, (SUMMARY,)) if p.name == wanted)
            path = next(named, None)
            if path is None:
                return None
        return _join(pack_facts(path), record)

    def pack_json(self, pack: RunFolder) -> str:
        with open_regular(pack.path / SUMMARY) as handle:
            return handle.read().decode("utf-8", "replace")

    def _joined(
        self, facts: list[RunFolder], run_filter: RunFilter, prefix: str | None
    ) -> list[RunFolder]:
        self.warnings = []
        if prefix is not None:
            wanted = prefix.strip().lower()
            facts = [f for f in facts if f.run_id.lower().startswith(wanted)]
        records = self.records_for(facts)
        joined = [_join(f, _record_of(f, records.get(folder_key(f.run_id), []))) for f in facts]
        return sorted((f for f in joined if run_filter.matches(f)), key=order_key, reverse=True)

    def records_for(self, folders: Sequence[RunFolder]) -> dict[str, list[RunRecord]]:
        """The index records of these folders' runs by `folder_key` (one per pipeline that
        used the id), read back only as needed."""
        needed = Counter(folder_key(f.run_id) for f in folders)
        starts = [parse_moment(f.started_at) for f in folders]
        known = [s for s in starts if s is not None]
        # A folder without a start time could be anywhere in the index: no cutoff then.
        cutoff = min(known) if known and len(known) == len(starts) else None
        found: dict[str, dict[str, RunRecord]] = {}
        limit = _FIRST_BATCH
        while any(len(found.get(key, ())) < count for key, count in needed.items()):
            batch = self.reader.query(limit=limit)
            for record in batch:
                key = folder_key(record.run_id)
                if key in needed:
                    found.setdefault(key, {}).setdefault(record.pipeline_slug, record)
            oldest = parse_moment(batch[-1].finished_at or batch[-1].started_at) if batch else None
            if len(batch) < limit or (cutoff and oldest and oldest < cutoff - _CLOCK_SLACK):
                break
            limit *= 4
        self.warnings = list(self.reader.warnings)
        return {key: list(by_slug.values()) for key, by_slug in found.items()}


@dataclass(frozen=True)
class RunPath:
    """A path a record stores, resolved in this project, and whether it is still there.

    A stored path that leads outside the project (absolute elsewhere, `..`, through a link)
    resolves to nothing: it is `outside`, shown as such and never read."""

    stored: str | None
    path: Path | None

    @property
    def exists(self) -> bool:
        return self.path is not None and self.path.exists()

    @property
    def outside(self) -> bool:
        return bool(self.stored) and self.path is None


class RunCatalog:
    """Asks its sources in order and merges their answers; the first source wins a tie."""

    def __init__(self, sources: Sequence[RunSource]) -> None:
        if not sources:
            raise ValueError("a catalog needs at least one source")
        self.sources = list(sources)
        self.warnings: list[str] = []

    def _collect(self, source: RunSource) -> None:
        self.warnings.extend(source.warnings)

    def runs(self, run_filter: RunFilter) -> list[RunRecord]:
        """Runs of every source passing the filter, newest first, at most `run_filter.limit`."""
        self.warnings = []
        merged: dict[tuple[str, str], RunRecord] = {}
        for source in self.sources:
            for record in source.runs(run_filter):
                merged.setdefault(_run_key(record), record)
            self._collect(source)
        found = newest_first(merged.values())
        return found[: run_filter.limit] if run_filter.limit else found

    def get(self, run_id_or_prefix: str) -> RunRecord:
        """The run with this exact id in any source, else the only run starting with it."""
        self.warnings = []
        _, wanted = split_run_ref(run_id_or_prefix)
        matches: dict[tuple[str, str], RunRecord] = {}
        for source in self.sources:
            try:
                found = [source.get(run_id_or_prefix)]
            except AmbiguousRunId as exc:
                found = exc.candidates
            except NotFound:
                found = []
            finally:
                self._collect(source)
            for record in found:
                matches.setdefault(_run_key(record), record)
        # An exact id beats the longer ids it is a prefix of.
        exact = [r for r in matches.values() if r.run_id.lower() == wanted]
        chosen = exact or list(matches.values())
        if not chosen:
            raise NotFound(f"no run '{run_id_or_prefix}' in the index", hint=RUNS_HINT)
        if len(chosen) > 1:
            raise AmbiguousRunId(run_id_or_prefix, chosen)
        return chosen[0]

    def source_of(self, item: RunRecord | RunFolder) -> RunSource:
        """The source an item's paths resolve in: the one named as its `source`, else the first."""
        return next((s for s in self.sources if s.name == item.source), self.sources[0])

    def paths(self, record: RunRecord) -> dict[str, RunPath]:
        """A record's run-log folder, AIOP pack and build manifest, resolved."""
        source = self.source_of(record)
        stored = {
            "run_logs": record.run_logs_path,
            "aiop": record.aiop_path,
            "build_manifest": record.build_manifest_path,
        }
        return {name: RunPath(value, source.resolve_path(value)) for name, value in stored.items()}

    def log_folders(self, run_filter: RunFilter) -> list[RunFolder]:
        """Run-log folders of every source, indexed or not, newest first."""
        return self._folders(run_filter, lambda source: source.log_folders(run_filter))

    def packs(self, run_filter: RunFilter) -> list[RunFolder]:
        """Complete AIOP packs of every source, indexed or not, newest first."""
        return self._folders(run_filter, lambda source: source.packs(run_filter))

    def _folders(
        self, run_filter: RunFilter, listing: Callable[[RunSource], Iterable[RunFolder]]
    ) -> list[RunFolder]:
        self.warnings = []
        found: list[RunFolder] = []
        for source in self.sources:
            found.extend(listing(source))
            self._collect(source)
        found.sort(key=order_key, reverse=True)
        return found[: run_filter.limit] if run_filter.limit else found

    def log_folder(self, run_id_or_prefix: str) -> RunFolder:
        """The run-log folder of a run: via the index, else any folder on disk (a running run)."""
        record = self._indexed(run_id_or_prefix)
        if record is None:
            return self._on_disk(
                run_id_or_prefix,
                "run-log folder",
                lambda source, prefix: source.log_folders(RunFilter(), prefix=prefix),
            )
        path = self.source_of(record).resolve_path(record.run_logs_path)
        if path is None and record.run_logs_path:
            raise NotFound(
                f"run '{record.run_id}' names run logs outside the project; they are never read",
                path=record.run_logs_path,
                hint="the index record was written elsewhere or edited",
            )
        if path is None or not (path / EVENTS).is_file():
            raise NotFound(
                f"the run logs of run '{record.run_id}' are gone",
                path=record.run_logs_path,
                hint="retention removes run logs after filesystem.retention.run_logs_days days",
            )
        return _join(log_facts(path), record)

    def pack(self, run_id_or_prefix: str) -> RunFolder:
        """The AIOP pack of a run: via the index, else any pack on disk."""
        record = self._indexed(run_id_or_prefix)
        if record is None:
            return self._on_disk(
                run_id_or_prefix,
                "AIOP pack",
                lambda source, prefix: source.packs(RunFilter(), prefix=prefix),
            )
        source = self.source_of(record)
        pack = source.pack_of(record)
        if pack is None and record.aiop_path and source.resolve_path(record.aiop_path) is None:
            raise NotFound(
                f"run '{record.run_id}' names an AIOP pack outside the project; it is never read",
                path=record.aiop_path,
                hint="the index record was written elsewhere or edited",
            )
        if pack is None:
            raise NotFound(
                f"run '{record.run_id}' has no AIOP pack",
                path=record.aiop_path,
                hint=f"osiris aiop export {record.run_id} regenerates it from the run logs",
            )
        return pack

    def pack_json(self, pack: RunFolder) -> str:
        """The JSON text of a pack that `osiris aiop show` prints, as its source reads it."""
        return self.source_of(pack).pack_json(pack)

    def _indexed(self, run_id_or_prefix: str) -> RunRecord | None:
        try:
            return self.get(run_id_or_prefix)
        except AmbiguousRunId:
            raise
        except NotFound:
            return None

    def _on_disk(
        self,
        run_id_or_prefix: str,
        what: str,
        listing: Callable[[RunSource, str], Iterable[RunFolder]],
    ) -> RunFolder:
        pipeline, wanted = split_run_ref(run_id_or_prefix)
        found: list[RunFolder] = []
        for source in self.sources:
            found.extend(
                f for f in listing(source, wanted) if pipeline in (None, f.pipeline_slug.lower())
            )
            self._collect(source)
        exact = [f for f in found if f.run_id.lower() == wanted]
        chosen = exact or found
        if len(chosen) > 1:
            candidates = [RunRecord(run_id=f.run_id, pipeline_slug=f.pipeline_slug) for f in chosen]
            raise AmbiguousRunId(run_id_or_prefix, candidates)
        if not found:
            raise NotFound(
                f"no run '{run_id_or_prefix}' in the index or any {what}", hint=RUNS_HINT
            )
        return chosen[0]


def catalog_for(dirs: ProjectDirs) -> RunCatalog:
    """The contract layout's catalog of a project (the read fallback appends the legacy source)."""
    return RunCatalog(
        [ContractSource(dirs.base_path, dirs.index_dir, dirs.run_logs_dir, dirs.aiop_dir)]
    )


def _run_key(record: RunRecord) -> tuple[str, str]:
    return record.pipeline_slug.lower(), record.run_id.lower()


def _record_of(folder: RunFolder, records: list[RunRecord]) -> RunRecord | None:
    """The record of a folder among those of its run id: its pipeline's, else the only one."""
    mine = [r for r in records if r.pipeline_slug == folder.pipeline_slug]
    if mine or len(records) != 1:
        return mine[0] if mine else None
    return records[0]


def _join(facts: RunFolder, record: RunRecord | None) -> RunFolder:
    if record is None:
        return facts
    return RunFolder(
        run_id=record.run_id,
        path=facts.path,
        pipeline_slug=record.pipeline_slug or facts.pipeline_slug,
        profile=record.profile or facts.profile,
        status=record.status if record.status != "unknown" else facts.status,
        started_at=record.started_at or facts.started_at,
        finished_at=record.finished_at or facts.finished_at,
        tags=record.tags,
        record=record,
        source=record.source,
    )
