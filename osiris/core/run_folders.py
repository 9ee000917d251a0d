"""One run-log folder or AIOP pack as found on disk, read without the index (contract.md §6).

`RunFolder` is what a folder's own files say about its run (`log_facts`, `pack_facts`),
joined later with its index record by the sources in `run_sources`; the helpers here find
such folders (`folders_holding`) and read their files (`edge_events`, `read_events`,
`read_json_object`), never raising on a damaged or missing file. Re-exported by
`run_sources`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.core import foreign_records
from osiris.core.fsio import open_regular
from osiris.core.run_index import RunRecord, parse_moment
from osiris.core.tags import stored_tags

EVENTS = "events.jsonl"
SUMMARY = "summary.json"
STATUS = "status.json"
UNFINISHED = "unfinished"
TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunFolder:
    """A run-log folder or an AIOP pack folder as found on disk, joined with its index record."""

    run_id: str
    path: Path
    pipeline_slug: str = ""
    profile: str | None = None
    status: str = UNFINISHED
    started_at: str | None = None
    finished_at: str | None = None
    tags: tuple[str, ...] = ()
    record: RunRecord | None = field(default=None, compare=False)
    source: str = "contract"

    @property
    def indexed(self) -> bool:
        return self.record is not None

    def as_record(self, base_path: Path) -> RunRecord:
        """An unindexed folder as the record a reader lists (`indexed: false`)."""
        started, finished = parse_moment(self.started_at), parse_moment(self.finished_at)
        duration = (
            round((finished - started).total_seconds() * 1000) if started and finished else None
        )
        return RunRecord(
            run_id=self.run_id,
            pipeline_slug=self.pipeline_slug,
            profile=self.profile,
            started_at=self.started_at,
            finished_at=self.finished_at,
            status=self.status if self.status != UNFINISHED else "unknown",
            duration_ms=duration,
            run_logs_path=display_path(self.path, base_path),
            tags=self.tags,
            source=self.source,
            extra={"indexed": False},
        )

    def to_dict(self, base_path: Path) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline_slug": self.pipeline_slug,
            "profile": self.profile,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "tags": list(self.tags),
            "path": display_path(self.path, base_path),
            "indexed": self.indexed,
            "source": self.source,
        }


# -- reading folders ----------------------------------------------------------------------


def display_path(path: Path, base_path: Path) -> str:
    """A path relative to the project when it lies inside it, else absolute."""
    try:
        return path.relative_to(base_path).as_posix()
    except ValueError:
        return str(path)


TOMBSTONE = ".removing"  # `.<name>.removing`: a folder retention is removing (retention.py)


def is_tombstone(name: str) -> bool:
    """True for a folder a clean renamed before removing it: no reader lists it."""
    return name.startswith(".") and name.endswith(TOMBSTONE)


@dataclass(frozen=True)
class FolderScan:
    """What one pass below a root found: the folders holding a marker file, and the
    folders an interrupted clean left half-removed (tombstones), each in walk order."""

    folders: list[Path]
    tombstones: list[Path]


def scan_folders(root: Path, markers: Sequence[str], inner: Sequence[str] = ()) -> FolderScan:
    """Real folders below `root` holding a marker as a regular file, and the tombstones
    beside them (and, by the names in `inner`, inside them: an annex a clean was removing).

    A folder is known to hold a marker by an `lstat` of the marker, so a run folder is never
    listed (thousands of them, ~20x the cost of a stat each); only the folders grouping
    them are. Links are never entered."""
    folders: list[Path] = []
    tombstones: list[Path] = []

    def visit(folder: str) -> None:
        try:
            with os.scandir(folder) as listing:
                found = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            return
        for entry in found:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if is_tombstone(entry.name):
                tombstones.append(Path(entry.path))
            elif any(is_regular_file(os.path.join(entry.path, m)) for m in markers):
                folders.append(Path(entry.path))
                tombstones.extend(
                    Path(path)
                    for name in inner
                    if is_real_dir(path := os.path.join(entry.path, name))
                )
            else:
                visit(entry.path)

    visit(os.fspath(root))
    return FolderScan(folders, tombstones)


def folders_holding(root: Path, markers: Sequence[str]) -> Iterator[Path]:
    """Real folders below `root` holding a marker as a regular file; links are never entered,
    nor folders a clean is removing."""
    return iter(scan_folders(root, markers).folders)


def is_regular_file(path: Path | str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_real_dir(path: Path | str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def first_line(path: Path) -> dict[str, Any]:
    """The first line of a JSONL file as an object ({} when missing or not an object)."""
    try:
        with open_regular(path) as handle:
            return json_line(handle.readline())
    except OSError:
        return {}


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file; {} when it is missing, damaged or not an object."""
    try:
        with open_regular(path) as handle:
            value = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def json_line(line: bytes) -> dict[str, Any]:
    """One JSON line as an object ({} when it is damaged or not an object)."""
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def edge_events(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first and the last complete event of an `events.jsonl` ({} where unreadable)."""
    try:
        with open_regular(path) as handle:
            first = handle.readline()
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return {}, {}
    # A line still being written has no newline yet: it is not complete.
    lines = [line for line in tail.split(b"\n")[:-1] if line.strip()]
    last = json_line(lines[-1]) if lines else {}
    return (json_line(first) if first.endswith(b"\n") else {}), last


def log_facts(path: Path) -> RunFolder:
    """What a run-log folder's own files say about its run (no index)."""
    first, last = edge_events(path / EVENTS)
    if foreign_records.is_upstream_events(first):
        return _upstream_log_facts(path)
    start = first if first.get("event") == "run_start" else {}
    end = last if last.get("event") == "run_end" else {}
    status = read_json_object(path / STATUS) if not end else {}
    run_id = (
        _text(start.get("run_id")) or _text(start.get("session")) or _text(status.get("run_id"))
    )
    return RunFolder(
        run_id=run_id or path.name,
        path=path,
        pipeline_slug=_text(start.get("pipeline_slug")) or _text(start.get("pipeline_id")) or "",
        profile=_text(start.get("profile")),
        status=_text(end.get("status")) or _text(status.get("status")) or UNFINISHED,
        started_at=_text(start.get("ts")),
        finished_at=_text(end.get("ts")),
        tags=_listed_tags(start.get("tags")),
    )


def _upstream_log_facts(path: Path) -> RunFolder:
    """An upstream 0.5.x run folder: its first and last events name neither run nor outcome."""
    facts = foreign_records.folder_facts(read_events(path / EVENTS), path.name)
    return RunFolder(
        run_id=facts["run_id"],
        path=path,
        pipeline_slug=facts["pipeline_slug"],
        profile=_text(facts["profile"]),
        status=facts["status"] or UNFINISHED,
        started_at=facts["started_at"],
        finished_at=facts["finished_at"],
    )


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete event of an `events.jsonl` (a damaged line is skipped)."""
    try:
        with open_regular(path) as handle:
            data = handle.read()
    except OSError:
        return []
    return [event for line in data.split(b"\n")[:-1] if (event := json_line(line))]


def pack_facts(path: Path) -> RunFolder:
    """What a pack's `summary.json` says about its run (no index)."""
    summary = read_json_object(path / SUMMARY)
    if "run_id" not in summary or "pipeline_slug" not in summary:
        return _upstream_pack_facts(path, summary)
    return RunFolder(
        run_id=_text(summary.get("run_id")) or path.name,
        path=path,
        pipeline_slug=_text(summary.get("pipeline_slug")) or "",
        profile=_text(summary.get("profile")),
        status=_text(summary.get("status")) or "unknown",
        started_at=_text(summary.get("started_at")),
        finished_at=_text(summary.get("completed_at")),
        tags=_listed_tags(summary.get("tags")),
    )


def _pack_rank(pack: RunFolder) -> tuple[bool, bool]:
    """Of two packs of one run, the real one first: not a 0.5.x export's placeholder."""
    placeholder = foreign_records.is_placeholder(read_json_object(pack.path / SUMMARY))
    return placeholder, pack.status == "unknown"


def _upstream_pack_facts(path: Path, summary: dict[str, Any]) -> RunFolder:
    facts = foreign_records.pack_facts(summary)
    return RunFolder(
        run_id=_text(facts["run_id"]) or path.name,
        path=path,
        pipeline_slug=facts["pipeline_slug"] or "",
        status=facts["status"] or "unknown",
        started_at=_text(facts["started_at"]),
    )


def _text(value: Any) -> str | None:
    # Files written by other versions, or damaged, may hold anything: only text counts.
    return value if isinstance(value, str) and value else None


def _listed_tags(value: Any) -> tuple[str, ...]:
    # Events and summaries hold a list; anything else there is damage, not tags.
    return stored_tags(value) if isinstance(value, list) else ()


def _best_packs(group: list[RunFolder]) -> list[RunFolder]:
    """The packs of one run id: the best of each pipeline that used it (a placeholder
    names no pipeline, so it never counts as another run)."""
    slugs = {f.pipeline_slug for f in group if f.pipeline_slug}
    if len(slugs) <= 1:
        return [min(group, key=_pack_rank)]
    return [min((f for f in group if f.pipeline_slug == s), key=_pack_rank) for s in slugs]
