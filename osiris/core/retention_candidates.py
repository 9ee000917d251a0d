"""Retention's candidates: the run folders and AIOP packs `osiris maintenance clean` may remove.

Each is found on disk (a link, through the index) and read as a `_Run` with the times it is
judged by; `_protected` names the runs a `latest/<slug>.txt` pointer keeps. The plan and its
removals live in `retention`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_index import RunIndexReader
from osiris.core.run_index_format import RunRecord, read_pointer
from osiris.core.run_sources import (
    EVENTS,
    STATUS,
    RunFolder,
    log_facts,
    pack_facts,
)
from osiris.core.timestamps import parse_moment

ANNEX = "annex"


@dataclass(frozen=True)
class _Run:
    """One run folder or pack as retention sees it."""

    path: Path
    run_id: str
    pipeline_slug: str
    profile: str | None
    started: datetime | None
    finished: datetime
    is_link: bool
    finish_known: bool = True


def _run_dirs(
    contract: FilesystemContract,
    reader: RunIndexReader,
    records: list[RunRecord],
    folders: list[Path],
) -> Iterator[_Run]:
    """Run folders under run_logs/ (`folders`: those with run files), and links the index names."""
    by_path = _by_path(reader, records, "run_logs_path", folders)
    seen: set[Path] = set()
    for path in folders:
        seen.add(path)
        record = by_path.get(path)
        if record is not None and _answers(record):
            # The index knows all a plan needs: the run's files are not read again.
            yield _from_folder(RunFolder(run_id=record.run_id, path=path), record, EVENTS)
        else:
            yield _from_folder(log_facts(path), record, EVENTS)
    for path, record in by_path.items():
        if path not in seen and os.path.islink(path) and _inside(path, contract.run_logs_dir):
            yield _from_link(path, record)


def _packs(reader: RunIndexReader, records: list[RunRecord], packs: list[Path]) -> Iterator[_Run]:
    """Complete AIOP packs (`packs`: folders with summary.json under aiop/)."""
    by_path = _by_path(reader, records, "aiop_path", packs)
    for path in packs:
        yield _from_folder(pack_facts(path), by_path.get(path), ANNEX)


def _answers(record: RunRecord) -> bool:
    """True when a record holds every fact `_from_folder` takes from a run's files."""
    return all((record.finished_at, record.started_at, record.pipeline_slug, record.profile))


def _from_folder(facts: RunFolder, record: RunRecord | None, fallback: str) -> _Run:
    # The run's finish time: the index, else the run's own files, else the last change (of
    # its status, its `fallback` file or folder, or the folder itself).
    finished = parse_moment(record.finished_at if record else None) or parse_moment(
        facts.finished_at
    )
    known = finished is not None
    if finished is None:
        status = facts.path / STATUS
        candidates = [p for p in (status, facts.path / fallback, facts.path) if os.path.lexists(p)]
        finished = datetime.fromtimestamp(
            max(os.lstat(p).st_mtime for p in candidates), timezone.utc
        )
    return _Run(
        path=facts.path,
        run_id=record.run_id if record else facts.run_id,
        pipeline_slug=(record.pipeline_slug if record else "") or facts.pipeline_slug,
        profile=(record.profile if record else None) or facts.profile,
        started=parse_moment(record.started_at if record else None)
        or parse_moment(facts.started_at),
        finished=finished,
        is_link=False,
        finish_known=known,
    )


def _from_link(path: Path, record: RunRecord) -> _Run:
    mtime = datetime.fromtimestamp(os.lstat(path).st_mtime, timezone.utc)
    return _Run(
        path=path,
        run_id=record.run_id,
        pipeline_slug=record.pipeline_slug,
        profile=record.profile,
        started=parse_moment(record.started_at),
        finished=parse_moment(record.finished_at) or mtime,
        is_link=True,
        finish_known=record.finished_at is not None,
    )


def _by_path(
    reader: RunIndexReader, records: list[RunRecord], key: str, found_on_disk: list[Path]
) -> dict[Path, RunRecord]:
    """Each record by the folder its `key` path names (the first record of a folder wins).

    A record whose relative path is exactly one of the folders found on disk needs no
    resolving (the common case, one dict lookup); any other goes through the reader's rules."""
    base = f"{reader.base_path}{os.sep}"
    on_disk = {os.fspath(path): path for path in found_on_disk}
    found: dict[Path, RunRecord] = {}
    for record in records:
        stored = getattr(record, key)
        path = on_disk.get(base + stored) if stored and ".." not in stored else None
        if path is None:
            resolved = reader.resolve_path(stored, lexical=True)
            path = None if resolved is None else Path(os.path.normpath(resolved))
        if path is not None:
            found.setdefault(path, record)
    return found


def _protected(
    contract: FilesystemContract, records: list[RunRecord], runs: list[_Run]
) -> dict[str, str]:
    """The newest run of each pipeline/profile a `latest/<slug>.txt` pointer names, by lower id."""
    latest_dir = contract.index_dir / "latest"
    pointers = sorted(latest_dir.glob("*.txt")) if latest_dir.is_dir() else []
    newest: dict[tuple[str, str | None], tuple[datetime, str]] = {}
    known = [(r.pipeline_slug, r.profile, parse_moment(r.started_at), r.run_id) for r in records]
    known += [(r.pipeline_slug, r.profile, r.started, r.run_id) for r in runs]
    for slug, profile, started, run_id in known:
        key = (slug, profile)
        # contract.md §6: newest by start, ties by run id.
        if started is not None and (
            key not in newest
            or (started, run_id.lower()) > (newest[key][0], newest[key][1].lower())
        ):
            newest[key] = (started, run_id)
    protected = {}
    for file in pointers:
        pointer = read_pointer(file)
        if pointer is not None and (file.stem, pointer.profile) in newest:
            run_id = newest[(file.stem, pointer.profile)][1]
            protected[run_id.lower()] = run_id
    return protected


def _inside(path: Path, root: Path) -> bool:
    normal, root = Path(os.path.normpath(path)), Path(os.path.normpath(root))
    return normal != root and root in normal.parents
