"""The run index (contract.md §6): append-only JSONL records, folded and read newest first."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from osiris.core import foreign_records
from osiris.core.fsio import append_jsonl_files, atomic_write_text
from osiris.core.lock import file_lock
from osiris.core.run_index_format import _FIELD_NAMES as _FIELD_NAMES
from osiris.core.run_index_format import _SAFE_SEGMENT as _SAFE_SEGMENT
from osiris.core.run_index_format import (
    IndexPaths,
    RunRecord,
    _checked_slug,
    is_safe_segment,
)
from osiris.core.run_index_format import Pointer as Pointer
from osiris.core.run_index_format import _as_int as _as_int
from osiris.core.run_index_format import _as_str as _as_str
from osiris.core.run_index_format import read_pointer as read_pointer
from osiris.core.run_order import MIGRATED, Newest, migrated_bound
from osiris.core.tags import stored_tags
from osiris.core.timestamps import parse_iso as parse_iso
from osiris.core.timestamps import parse_moment as parse_moment
from osiris.core.timestamps import utc_now_iso as utc_now_iso
from osiris.errors import NotFound, OperationFailed, UsageError

CONTRACT_DIRS = ("run_logs", "aiop", "build")
_UNSET = object()
UPDATE_KIND = "update"
# Keys that describe an update line itself, not the run it updates.
_UPDATE_ENVELOPE = ("kind", "recorded_at")
_BLOCK_SIZE = 64 * 1024
_MAX_LISTED = 10
_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]")


_PATH_FIELDS = {"run_logs_path": "run_logs", "aiop_path": "aiop", "build_manifest_path": "build"}


def _record_dict(record: RunRecord | Mapping[str, Any]) -> dict[str, Any]:
    data = record.to_dict() if isinstance(record, RunRecord) else dict(record)
    if not isinstance(data.get("run_id"), str) or not data["run_id"]:
        raise ValueError("an index record needs a non-empty string run_id")
    _checked_slug(data.get("pipeline_slug"))
    return data


class RunIndexWriter:
    """Appends records under the index lock, to `runs.jsonl` and `by_pipeline/<slug>.jsonl`."""

    def __init__(self, index_dir: Path) -> None:
        self.paths = IndexPaths(Path(index_dir))

    def append(self, record: RunRecord | Mapping[str, Any]) -> None:
        """Append one run record durably (flushed and fsynced) to both index files."""
        self.append_many([record])

    def append_update(self, run_id: str, pipeline_slug: str, **fields: Any) -> None:
        """Append later facts about a run (e.g. its full new `tags`); readers fold them in."""
        if "tags" in fields:
            fields["tags"] = list(stored_tags(fields["tags"]))
        self.append_many(
            [
                {
                    **fields,
                    "run_id": run_id,
                    "pipeline_slug": pipeline_slug,
                    "kind": UPDATE_KIND,
                    "recorded_at": utc_now_iso(),
                }
            ]
        )

    def append_many(self, records: Iterable[RunRecord | Mapping[str, Any]]) -> None:
        """Append many records with one write and one fsync per file."""
        batch = [_record_dict(record) for record in records]
        if not batch:
            return
        per_pipeline: dict[str, list[dict[str, Any]]] = {}
        for data in batch:
            per_pipeline.setdefault(data["pipeline_slug"], []).append(data)
        with file_lock(self.paths.lock):
            try:
                append_jsonl_files(
                    {
                        self.paths.runs: batch,
                        **{
                            self.paths.by_pipeline(slug): group
                            for slug, group in per_pipeline.items()
                        },
                    }
                )
            except OSError as exc:
                # append_jsonl_files left every file as it was before.
                raise OperationFailed(
                    f"the run index could not be written ({exc.strerror or exc})",
                    path=exc.filename or self.paths.runs,
                    hint="free some space (or fix the folder's permissions), then try again",
                ) from exc

    def write_pointer(
        self,
        pipeline_slug: str,
        manifest_rel_path: str | PurePosixPath,
        manifest_hash: str,
        profile: str | None,
    ) -> None:
        """Atomically point `latest/<slug>.txt` and `last_compile.txt` at a compiled manifest."""
        lines = [PurePosixPath(manifest_rel_path).as_posix(), manifest_hash, profile or ""]
        if any("\n" in line or "\r" in line for line in lines):
            raise ValueError("pointer values must be single lines")
        text = "".join(line + "\n" for line in lines)
        atomic_write_text(self.paths.latest(pipeline_slug), text)
        atomic_write_text(self.paths.last_compile, text)


def _reverse_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Yield `(offset, line)` from the last line to the first, reading 64 KiB blocks."""
    position = handle.seek(0, os.SEEK_END)
    head = b""
    while position > 0:
        size = min(_BLOCK_SIZE, position)
        position -= size
        handle.seek(position)
        buffer = handle.read(size) + head
        lines = buffer.split(b"\n")
        head = lines[0]  # may continue in the previous block
        line_end = position + len(buffer)
        for line in reversed(lines[1:]):
            line_start = line_end - len(line)
            yield line_start, line
            line_end = line_start - 1
    if head:
        yield 0, head


def _line_number(handle: BinaryIO, offset: int) -> int:
    # Only paid when a damaged line is found: count the newlines before it.
    handle.seek(0)
    count = 0
    remaining = offset
    while remaining > 0:
        chunk = handle.read(min(_BLOCK_SIZE, remaining))
        if not chunk:
            break
        count += chunk.count(b"\n")
        remaining -= len(chunk)
    return count + 1


class AmbiguousRunId(NotFound):
    """A run id (or prefix) matches more than one run; `candidates` holds them, newest first."""

    def __init__(self, prefix: str, candidates: list[RunRecord]) -> None:
        shown = ", ".join(f"{c.pipeline_slug}/{c.run_id}" for c in candidates[:_MAX_LISTED])
        more = len(candidates) - _MAX_LISTED
        if more > 0:
            shown += f" and {more} more"
        super().__init__(
            f"run id '{prefix}' matches {len(candidates)} runs: {shown}",
            hint="type more of the run id, or PIPELINE/RUN_ID as listed",
        )
        self.candidates = candidates


def split_run_ref(text: str) -> tuple[str | None, str]:
    """`PIPELINE/RUN_ID` or `RUN_ID` (lower-cased) -> (pipeline or None, run id or prefix)."""
    wanted = text.strip().lower()
    pipeline, slash, run_id = wanted.rpartition("/")
    if slash and pipeline and run_id:
        return pipeline, run_id
    if not wanted:
        raise UsageError("a run id is needed", hint="osiris runs list shows run ids")
    return None, wanted


def _shown(path: Path, base_path: Path) -> str:
    """A file as a warning names it: relative to the project when inside it."""
    try:
        return path.relative_to(base_path).as_posix()
    except ValueError:
        return str(path)


def _run_key(data: Mapping[str, Any]) -> tuple[str, str]:
    """What names one run: run ids count per pipeline, so two pipelines share `run-000001`."""
    if foreign_records.is_upstream_05(data):
        data = foreign_records.normalized(data)  # updates name the slug its folders use
    return str(data.get("pipeline_slug") or ""), data["run_id"]


class RunIndexReader:
    """Reads the index newest first, folding later updates into their runs.

    A run appears once, at the place of its newest base record (one without
    `kind: update`); that record and the updates after it are folded, newest key wins.
    Records older than the newest base record of their run are superseded by it, and an
    update whose run has no base record is dropped. Damaged lines are skipped and
    described in `warnings`, which each query resets.
    """

    def __init__(self, index_dir: Path, base_path: Path, roots: Iterable[Path] = ()) -> None:
        self.paths = IndexPaths(Path(index_dir))
        self.base_path = Path(base_path)
        # Where a record's path may lead: the project and its configured folders (which may
        # be absolute elsewhere). Anything else is outside: shown as such, never read.
        self.roots = (self.base_path, *(Path(r) for r in roots))
        self.warnings: list[str] = []
        self._migrated_bound: object = _UNSET
        self._real_roots: tuple[str, ...] | None = None

    def query(
        self,
        *,
        pipeline: str | None = None,
        profile: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs matching every given filter, newest start first (ties by run id), at most
        `limit` of them; the index is read backwards only as far as it can hold newer runs."""
        self.warnings = []
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        if limit is not None and limit <= 0:
            return []
        source = self.paths.runs
        if pipeline is not None and is_safe_segment(pipeline):
            by_pipeline = self.paths.by_pipeline(pipeline)
            if by_pipeline.exists():
                source = by_pipeline
        newest = self._newest(source, pipeline, profile, status, tag, since, limit)
        if source != self.paths.runs and self.warnings:
            # A damaged per-pipeline file (a torn append) may hide runs that runs.jsonl holds.
            damaged, self.warnings = self.warnings, []
            newest = self._newest(self.paths.runs, pipeline, profile, status, tag, since, limit)
            self.warnings = damaged + self.warnings
        return [self._portable_record(record) for record in newest.items()]

    def _newest(
        self,
        source: Path,
        pipeline: str | None,
        profile: str | None,
        status: str | None,
        tag: str | None,
        since: datetime | None,
        limit: int | None,
    ) -> Newest:
        newest = Newest(limit)
        for record in self._runs(source):
            matches = not (
                (pipeline is not None and record.pipeline_slug != pipeline)
                or (profile is not None and record.profile != profile)
                or (status is not None and record.status != status)
                or (tag is not None and tag not in record.tags)
                or (since is not None and not _started_since(record, since))
            )
            newest.offer(record if matches else None, self._appended_by(record))
            if newest.complete or (since is not None and newest.passed(since)):
                break
        return newest

    def _appended_by(self, record: RunRecord) -> datetime | None:
        """The latest time the record's line can have been appended at (None: unknown)."""
        if record.source == MIGRATED:
            # A migration appends old runs: its folder says when at the latest.
            if self._migrated_bound is _UNSET:
                self._migrated_bound = migrated_bound(self.base_path)
            return self._migrated_bound  # type: ignore[return-value]
        # The runner appends a record as its run finishes.
        return parse_moment(record.finished_at)

    def get(self, run_id_or_prefix: str) -> RunRecord:
        """The run with this id (any case), else the only run whose id starts with it.

        Run ids count per pipeline, so `PIPELINE/RUN_ID` picks one pipeline's run; an id
        two pipelines share raises `AmbiguousRunId` naming both, as a shared prefix does."""
        self.warnings = []
        pipeline, wanted = split_run_ref(run_id_or_prefix)
        exact: list[RunRecord] = []
        candidates: list[RunRecord] = []
        for record in self._runs(self.paths.runs):
            if pipeline is not None and record.pipeline_slug.lower() != pipeline:
                continue
            run_id = record.run_id.lower()
            if run_id == wanted:
                exact.append(record)
            elif run_id.startswith(wanted):
                candidates.append(record)
        chosen = exact or candidates
        if not chosen:
            raise NotFound(
                f"no run '{run_id_or_prefix}' in the index", hint="osiris runs list shows run ids"
            )
        if len(chosen) > 1:
            raise AmbiguousRunId(run_id_or_prefix, chosen)
        return self._portable_record(chosen[0])

    def resolve_path(self, rel_or_abs: str | None, *, lexical: bool = False) -> Path | None:
        """The absolute path a record's path names in this project; None when it has none or
        it leads outside the project and its configured folders (see `is_outside`).

        `lexical`: judge the path as written, not where its links lead (retention removes a
        link itself, never what it points to)."""
        portable = self._portable_path(rel_or_abs, CONTRACT_DIRS)
        if portable is None:
            return None
        if _is_absolute(portable):
            path = Path(portable)
        elif ".." in PurePosixPath(portable).parts:
            return None  # a record must not point outside the project
        else:
            path = self._existing(portable) or self.base_path / portable
        return path if self._within_roots(path, lexical=lexical) else None

    def is_outside(self, rel_or_abs: str | None) -> bool:
        """True when a record names a path outside the project: it is never read."""
        return bool(rel_or_abs) and self.resolve_path(rel_or_abs) is None

    def _within_roots(self, path: Path, *, lexical: bool = False) -> bool:
        # Through links too (unless `lexical`): a folder that is a link elsewhere is outside.
        if self._real_roots is None:
            self._real_roots = tuple(os.path.realpath(r) for r in self.roots)
        real = os.path.normpath(path) if lexical else os.path.realpath(path)
        return any(
            real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self._real_roots
        )

    def _existing(self, rel_path: str) -> Path | None:
        path = self.base_path / rel_path
        if path.exists():
            return path
        if not path.parent.is_dir():
            return None
        # Other versions wrote upper-case run ids into the index but lower-case folders.
        wanted = path.name.lower()
        return next((p for p in path.parent.iterdir() if p.name.lower() == wanted), None)

    def _runs(self, path: Path) -> Iterator[RunRecord]:
        if not path.exists():
            return
        with open(path, "rb") as handle:
            pending: dict[tuple[str, str], dict[str, Any]] = {}
            done: set[tuple[str, str]] = set()
            for offset, line in _reverse_lines(handle):
                if not line.strip():
                    continue
                data = _parse_line(line)
                if data is None:
                    where = _shown(path, self.base_path)
                    number = _line_number(handle, offset)
                    self.warnings.append(f"{where}: skipped a damaged line {number}")
                    continue
                run = _run_key(data)
                if run in done:
                    continue
                is_update = data.get("kind") == UPDATE_KIND
                if not is_update and run not in pending:
                    done.add(run)  # a record no later update changes: taken as it is
                    yield RunRecord.from_dict(data)
                    continue
                merged = pending.setdefault(run, {})
                for key, value in data.items():
                    if not (is_update and key in _UPDATE_ENVELOPE):
                        merged.setdefault(key, value)
                if not is_update:
                    del pending[run]
                    done.add(run)
                    yield RunRecord.from_dict(merged)

    def _portable_record(self, record: RunRecord) -> RunRecord:
        changes: dict[str, Any] = {}
        for name, anchor in _PATH_FIELDS.items():
            value = getattr(record, name)
            portable = self._portable_path(value, (anchor,))
            if portable != value:
                changes[name] = portable
        return replace(record, **changes) if changes else record

    def _portable_path(self, value: str | None, anchors: tuple[str, ...]) -> str | None:
        """A path relative to base_path (posix) where possible; absolute only if it exists."""
        if not value:
            return None
        if not _is_absolute(value):
            return value.replace("\\", "/")
        absolute = Path(value)
        if value.startswith("/") and absolute.exists():
            try:
                return absolute.relative_to(self.base_path).as_posix()
            except ValueError:
                if self._within_roots(absolute):
                    return value  # a configured folder outside the project
                # Elsewhere (the project's old place, another project): read it as moved.
        # Written on another machine or before the project moved: keep the part from the
        # contract folder on (contract.md §6), preferring a reading that exists here.
        parts = re.split(r"[\\/]+", value)
        readings = ["/".join(parts[i:]) for i, part in enumerate(parts) if part in anchors]
        if not readings:
            return value
        return next((r for r in readings if self._existing(r)), readings[0])


def _is_absolute(value: str) -> bool:
    return value.startswith(("/", "\\")) or bool(_WINDOWS_ABSOLUTE.match(value))


def _parse_line(line: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        return None
    return data if data["run_id"] else None


def _started_since(record: RunRecord, since: datetime) -> bool:
    if not record.started_at:
        return False
    try:
        return parse_iso(record.started_at) >= since
    except ValueError:
        return False
