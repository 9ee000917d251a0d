"""One reader interface over every place runs are recorded (contract.md §6, compat.md §2).

A `RunSource` answers four questions: which runs it indexed, which run-log folders and
which AIOP packs it holds (indexed or not), and where a stored path points. `RunCatalog`
asks its sources in order (the contract source first) and merges the answers, so the
compat layer appends a legacy source, whose records carry `source: "legacy"`, without any
command changing (`osiris.compat.fallback.catalog_for`; this module knows no legacy path).
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from osiris.core import foreign_records
from osiris.core.config_file import (
    BASE_PATH_ENVS,
    DEFAULT_DIRS,
    ENV_OVERRIDES,
    MIGRATIONS_DIR,
    base_path_override,
    base_path_problem,
    folder_problem,
    locate_config_file,
    read_config_file,
    resolve_base_path,
)
from osiris.core.foreign_records import folder_key
from osiris.core.fsio import open_regular
from osiris.core.run_index import (
    AmbiguousRunId,
    RunIndexReader,
    RunRecord,
    parse_moment,
    split_run_ref,
)
from osiris.core.run_order import newest_first, order_key
from osiris.core.tags import stored_tags
from osiris.errors import NotFound, OsirisError

if TYPE_CHECKING:
    from osiris.core.fs_paths import FilesystemContract

EVENTS = "events.jsonl"
SUMMARY = "summary.json"
STATUS = "status.json"
UNFINISHED = "unfinished"
TAIL_BYTES = 64 * 1024
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


# -- the project's folders ----------------------------------------------------------------

# As in fs_config, which cannot be imported without pydantic (~200 ms of start-up).
_READER_DIRS = ("index_dir", "run_logs_dir", "aiop_dir")


@dataclass(frozen=True)
class ProjectDirs:
    """The folders a reader needs: from the full configuration, or read light for speed."""

    base_path: Path
    index_dir: Path
    run_logs_dir: Path
    aiop_dir: Path
    read_fallback: bool = True

    @property
    def migrations_dir(self) -> Path:
        """Where `osiris migrate` keeps its journals (`FilesystemContract.migrations_dir`)."""
        return self.base_path / MIGRATIONS_DIR

    @classmethod
    def from_contract(cls, contract: FilesystemContract) -> ProjectDirs:
        return cls(
            base_path=contract.base_path,
            index_dir=contract.index_dir,
            run_logs_dir=contract.run_logs_dir,
            aiop_dir=contract.aiop_dir,
            read_fallback=contract.config.compat.read_fallback,
        )


def light_dirs(
    project: Path | None, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> ProjectDirs | None:
    """The reader's folders straight from `osiris.yaml`, validating only the keys they use.

    Gives the same folders as the full configuration, or None whenever anything is unusual
    (no project, a damaged file, a value of the wrong type): the caller then loads the full
    configuration, which reports the problem.
    """
    env = os.environ if env is None else env
    if any(env.get(var) for var in ENV_OVERRIDES if var not in BASE_PATH_ENVS):
        return None  # an override must be validated, and only the full loader does that
    try:
        config_file = locate_config_file(project, cwd)
        data = read_config_file(config_file, cached=True) if config_file else None
    except OsirisError:
        return None
    if data is None or config_file is None:  # no file, no data
        return None
    filesystem = data.get("filesystem") or {}
    compat = data.get("compat") or {}
    if not isinstance(filesystem, dict) or not isinstance(compat, dict):
        return None
    base = base_path_override(env)
    values = {key: filesystem.get(key) or DEFAULT_DIRS[key] for key in _READER_DIRS}
    values["base_path"] = filesystem.get("base_path") or "" if base is None else base
    fallback = compat.get("read_fallback")
    fallback = True if fallback is None else fallback
    if not all(isinstance(v, str) for v in values.values()) or not isinstance(fallback, bool):
        return None
    if any(folder_problem(values[key]) for key in _READER_DIRS):
        return None
    base_path = resolve_base_path(values["base_path"], config_file.parent)
    if base is None and values["base_path"] and base_path_problem(base_path, config_file.parent):
        return None  # the full loader warns about it
    dirs = {key: _dir_root(base_path, values[key]) for key in _READER_DIRS}
    return ProjectDirs(base_path=base_path, read_fallback=fallback, **dirs)


def _dir_root(base_path: Path, configured: str) -> Path:
    # As FilesystemContract does: absolute folders as they are, others under base_path.
    if Path(configured).is_absolute():
        return Path(os.path.normpath(configured))
    return Path(os.path.normpath(base_path / configured))


# -- reading folders ----------------------------------------------------------------------


def _run_key(record: RunRecord) -> tuple[str, str]:
    return record.pipeline_slug.lower(), record.run_id.lower()


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


def folders_holding(root: Path, markers: Sequence[str]) -> Iterator[Path]:
    """Real folders below `root` holding a marker as a regular file; links are never entered,
    nor folders a clean is removing."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not is_tombstone(d))
        if dirpath != os.fspath(root) and any(
            m in filenames and is_regular_file(os.path.join(dirpath, m)) for m in markers
        ):
            dirnames[:] = []
            yield Path(dirpath)


def is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
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
