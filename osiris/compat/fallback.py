"""Read fallback (compat.md §2): legacy runs, run logs and AIOPs behind the reader interface.

`LegacySource` is the `RunSource` of a project's `logs/`: each run session `logs/run_*/`
(not a dual-mode mirror, whose run the contract already has) is a run with
`source: "legacy"`, its session folder is its run-log folder, and its legacy AIOP (any
naming variant) is its pack, shown by `osiris aiop show` as the legacy JSON it is. A
project without `logs/` costs one `lstat`; a damaged item is listed with what could be
read and a warning. The first legacy hit of a process prints one deprecation line.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from osiris.core import run_sources
from osiris.core.profile_map import ProfileMap
from osiris.core.run_folders import is_real_dir
from osiris.core.run_index import AmbiguousRunId, RunRecord, utc_now_iso
from osiris.core.run_order import order_key
from osiris.core.run_sources import (
    RUNS_HINT,
    ProjectDirs,
    RunCatalog,
    RunFilter,
    RunFolder,
    RunSource,
)
from osiris.errors import NotFound, OsirisError

if TYPE_CHECKING:
    from osiris.compat.legacy_layout import SessionKind
    from osiris.compat.legacy_reader import LegacyAiop
    from osiris.compat.legacy_session import LegacySession
    from osiris.core.fs_config import ResolvedConfig

# legacy_layout.LOGS_DIR, spelled out here: a project without logs/ must cost one lstat
# (compat.md §2), not the import of the layout module and its compiled patterns (~4 ms).
_LOGS = "logs"
DEPRECATION = (
    "osiris: reading from the legacy layout (logs/, compiled/); "
    "run `osiris migrate plan` to move it into the contract layout"
)
# The legacy AIOP index's run status (legacy-layout.md §4) in the contract's words.
_AIOP_STATUS = {"completed": "success", "failed": "failed", "failed_compile": "failed"}
_OLDEST = datetime.min.replace(tzinfo=timezone.utc)
_announced = False


def announce() -> None:
    """Print the deprecation line on stderr, at the first legacy hit of this process only."""
    global _announced
    if not _announced:
        _announced = True
        print(DEPRECATION, file=sys.stderr, flush=True)


def catalog_for(dirs: ProjectDirs, config: Callable[[], ResolvedConfig]) -> RunCatalog:
    """The reading commands' catalog: the contract source, then (unless
    `compat.read_fallback: false`) the legacy one; `config` is loaded only on a legacy hit."""
    catalog = run_sources.catalog_for(dirs)
    if not dirs.read_fallback:
        return catalog
    contract = catalog.sources[0]
    return RunCatalog([*catalog.sources, LegacySource(dirs.base_path, config, contract=contract)])


def interrupted_migration_notice(dirs: ProjectDirs) -> str | None:
    """One line for reading commands while a migration is cut short: what they show may
    miss the runs it was moving. None otherwise (one lookup when nothing was migrated)."""
    if not is_real_dir(dirs.migrations_dir):
        return None
    from osiris.compat.migration_journal import (
        BOTH_WAYS,
        FINISH_ROLLBACK,
        ROLLING_BACK,
        interrupted,
    )

    try:
        pending = interrupted(dirs.migrations_dir)
    except OsirisError:
        return None  # a damaged journal: `osiris migrate status` names it
    if pending is None:
        return None
    if pending.state == ROLLING_BACK:
        what, way_out = "the rollback of migration", FINISH_ROLLBACK
    else:
        what, way_out = "migration", BOTH_WAYS
    return (
        f"{what} {pending.migration_id} was interrupted, so runs it was moving may be missing "
        f"here; {way_out}"
    )


def _first_event(path: Path) -> dict[str, Any]:
    """The first complete line of an `events.jsonl` (a regular file only), {} if unreadable."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return {}
        with open(path, "rb") as handle:
            line = handle.readline()
        value = json.loads(line) if line.endswith(b"\n") else None
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _session_names(logs: Path, kind: SessionKind) -> list[str]:
    """The real folders in `logs/` named as sessions of `kind`, newest first by the time in
    their ids; OSError when `logs/` cannot be listed."""
    from osiris.compat.legacy_layout import classify_session

    with os.scandir(logs) as listing:
        names = [
            entry.name
            for entry in listing
            if entry.is_dir(follow_symlinks=False) and classify_session(entry.name) is kind
        ]
    return sorted(names, key=_newest_first, reverse=True)


def _session_time(name: str) -> datetime | None:
    from osiris.compat.legacy_layout import session_time

    return session_time(name)


def _newest_first(name: str) -> tuple[datetime, str]:
    return _session_time(name) or _OLDEST, name


def _aiop_path(aiop: LegacyAiop) -> Path:
    # As the legacy record's `aiop_path`: the JSON, else its folder, else the run card.
    path = aiop.json_path or aiop.folder or aiop.run_card_path
    assert path is not None  # the reader finds every AIOP through one of them
    return path


def _folder(record: RunRecord, path: Path) -> RunFolder:
    return RunFolder(
        run_id=record.run_id,
        path=path,
        pipeline_slug=record.pipeline_slug,
        profile=record.profile,
        status=record.status,
        started_at=record.started_at,
        finished_at=record.finished_at,
        tags=record.tags,
        record=record,
        source=record.source,
    )


class LegacySource:
    """The legacy layout of one project as a `RunSource` (`source: "legacy"`).

    It lists `logs/` once, reads each session at most once, and asks the contract source
    for the `legacy_mirror` names of its records only for a session whose own events
    cannot tell whether it is a dual-mode mirror.
    """

    name = "legacy"

    def __init__(
        self, root: Path, config: Callable[[], ResolvedConfig], *, contract: RunSource
    ) -> None:
        self.root = Path(root)
        self.logs = self.root / _LOGS
        self.config = config
        self.contract = contract
        self.warnings: list[str] = []
        self._names: list[str] | None = None
        self._name_set: frozenset[str] = frozenset()
        self._listing_notes: list[str] = []
        self._sessions: dict[str, LegacySession] = {}
        self._records: dict[str, RunRecord | None] = {}
        self._aiops: tuple[list[LegacyAiop], list[str]] | None = None
        self._chosen: dict[str, LegacyAiop] | None = None
        self._mirrors: set[str] | None = None
        self._defaults: tuple[ProfileMap, int] | None = None

    # -- the protocol ---------------------------------------------------------------------

    def runs(self, run_filter: RunFilter) -> list[RunRecord]:
        names = self._run_names()
        self.warnings = list(self._listing_notes)
        found: list[RunRecord] = []
        for name in names:
            record = self._record(name)
            if record is None or not run_filter.matches(record):
                continue
            found.append(record)
            self.warnings += self._sessions[name].warnings
            if run_filter.limit and len(found) >= run_filter.limit:
                break
        return self._hit(sorted(found, key=order_key, reverse=True))

    def get(self, run_id_or_prefix: str) -> RunRecord:
        wanted = run_id_or_prefix.strip().lower()
        names = [n for n in self._run_names() if wanted and n.lower().startswith(wanted)]
        self.warnings = list(self._listing_notes)
        names = [n for n in names if not self._is_mirror(n)]
        exact = [n for n in names if n.lower() == wanted]
        if len(names) > 1 and not exact:
            # Candidates named by their ids alone: no session is read to refuse a prefix.
            candidates = [
                RunRecord(run_id=n, started_at=self._session_start(n), source=self.name)
                for n in names
            ]
            self._hit(candidates)
            raise AmbiguousRunId(run_id_or_prefix, candidates)
        record = self._record((exact or names)[0]) if names else None
        if record is None:
            raise NotFound(f"no run '{run_id_or_prefix}' in the legacy layout", hint=RUNS_HINT)
        self.warnings = list(self._sessions[record.run_id].warnings)
        self._hit([record])
        return record

    def resolve_path(self, stored: str | None) -> Path | None:
        """A legacy record's path in this project; None outside it (never read)."""
        if not stored:
            return None
        path = PurePosixPath(stored.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts:
            return None
        found = self.root / path
        real, root = os.path.realpath(found), os.path.realpath(self.root)
        return found if real.startswith(root.rstrip(os.sep) + os.sep) else None

    def log_folders(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        names = self._run_names()
        self.warnings = list(self._listing_notes)
        wanted = (prefix or "").strip().lower()
        found: list[RunFolder] = []
        for name in names:
            if not name.lower().startswith(wanted):
                continue
            record = self._record(name)
            if record is None:
                continue
            folder = _folder(record, self.logs / name)
            if run_filter.matches(folder):
                found.append(folder)
                self.warnings += self._sessions[name].warnings
        return self._hit(sorted(found, key=order_key, reverse=True))

    def packs(self, run_filter: RunFilter, *, prefix: str | None = None) -> list[RunFolder]:
        aiops, notes = self._scan_aiops()
        self.warnings = list(notes)
        wanted = (prefix or "").strip().lower()
        unmatched = [a for a in aiops if a.session_id is None]
        found: list[RunFolder] = []
        for aiop in [*self._chosen_aiops().values(), *unmatched]:
            pack = self._pack(aiop)
            if pack is None or not pack.run_id.lower().startswith(wanted):
                continue
            if run_filter.matches(pack):
                found.append(pack)
                self.warnings += aiop.warnings
        return self._hit(sorted(found, key=order_key, reverse=True))

    def pack_of(self, record: RunRecord) -> RunFolder | None:
        aiop = self._chosen_aiops().get(record.run_id)
        if aiop is None:
            return None
        self._hit([aiop])
        return _folder(record, _aiop_path(aiop))

    def pack_json(self, pack: RunFolder) -> str:
        """The legacy AIOP JSON as the old tool wrote it: a legacy pack has no summary.json."""
        shown = run_sources.display_path(pack.path, self.root)
        if pack.path.suffix != ".json" or not run_sources.is_regular_file(str(pack.path)):
            raise NotFound(
                f"the legacy AIOP of run '{pack.run_id}' has no AIOP JSON",
                path=shown,
                hint="its run card and annex are in the same place",
            )
        try:
            text = pack.path.read_text(encoding="utf-8")
            json.loads(text)
        except (OSError, ValueError, RecursionError) as exc:
            raise OsirisError(
                f"the legacy AIOP of run '{pack.run_id}' is not readable JSON ({exc})",
                path=shown,
            ) from None
        return text

    # -- reading the legacy layout ---------------------------------------------------------

    def _hit(self, found: list[Any]) -> list[Any]:
        if found:
            announce()
        return found

    def _run_names(self) -> list[str]:
        """The run session folders of `logs/`, newest first by the time in their ids."""
        if self._names is None:
            self._names = []
            if not is_real_dir(self.logs):  # compat.md §2: no logs/, one lstat, nothing else
                return self._names
            from osiris.compat.legacy_layout import SessionKind

            try:
                self._names = _session_names(self.logs, SessionKind.RUN)
            except OSError as exc:
                self._listing_notes.append(f"{_LOGS}: cannot list the folder ({exc})")
            self._name_set = frozenset(self._names)
        return self._names

    def _is_run_session(self, name: str) -> bool:
        self._run_names()
        return name in self._name_set

    def _session_start(self, name: str) -> str | None:
        moment = _session_time(name)
        return utc_now_iso(moment) if moment else None

    def _is_mirror(self, name: str) -> bool:
        """True for a dual-mode mirror: its run_start says so, else a contract record names it."""
        from osiris.compat.legacy_layout import EVENTS

        first = _first_event(self.logs / name / EVENTS)
        if first.get("event") == "run_start":
            # The runner's run_start (modes legacy and dual) has fs_mode; the old tool's has none.
            return first.get("fs_mode") == "dual"
        return name in self._mirror_names()

    def _mirror_names(self) -> set[str]:
        if self._mirrors is None:
            named = (r.extra.get("legacy_mirror") for r in self.contract.runs(RunFilter()))
            self._mirrors = {PurePosixPath(n).name for n in named if isinstance(n, str) and n}
        return self._mirrors

    def _record_defaults(self) -> tuple[ProfileMap, int]:
        if self._defaults is None:
            config = self.config().config
            short_len = config.filesystem.naming.manifest_short_len
            self._defaults = (ProfileMap.from_config(config), short_len)
        return self._defaults

    def _record(self, name: str) -> RunRecord | None:
        """The legacy record of a run session; None for a dual-mode mirror."""
        if name not in self._records:
            self._records[name] = None if self._is_mirror(name) else self._read(name)
        return self._records[name]

    def _read(self, name: str) -> RunRecord:
        from osiris.compat.legacy_session import read_session, session_to_record

        session = read_session(self.logs / name).with_aiop(self._chosen_aiops().get(name))
        self._sessions[name] = session
        profiles, short_len = self._record_defaults()
        return session_to_record(
            session, profiles=profiles, base_path=self.root, manifest_short_len=short_len
        )

    def _scan_aiops(self) -> tuple[list[LegacyAiop], list[str]]:
        if self._aiops is None:
            from osiris.compat.legacy_reader import scan_aiops

            self._aiops = scan_aiops(self.root) if is_real_dir(self.logs) else ([], [])
        return self._aiops

    def _chosen_aiops(self) -> dict[str, LegacyAiop]:
        if self._chosen is None:
            from osiris.compat.legacy_reader import preferred_aiops

            self._chosen = preferred_aiops(self._scan_aiops()[0])
        return self._chosen

    def _pack(self, aiop: LegacyAiop) -> RunFolder | None:
        """A legacy AIOP as a pack: joined with its run session, else from what it says."""
        path = _aiop_path(aiop)
        sid = aiop.session_id
        if sid is not None and self._is_run_session(sid):
            record = self._record(sid)
            return None if record is None else _folder(record, path)
        if sid is not None and self._is_mirror(sid):
            return None
        return RunFolder(
            run_id=sid or path.name,
            path=path,
            status=_AIOP_STATUS.get(aiop.status or "", "unknown"),
            started_at=self._session_start(sid) if sid else None,
            source=self.name,
        )


# -- `osiris run --last-compile` and `--pipeline SLUG` ----------------------------------------


def newest_build(
    root: Path, slug: str, *, profile: str | None, profiles: ProfileMap
) -> Path | None:
    """The manifest of the newest legacy compile of pipeline `slug` for `profile`.

    A successful compile session's `compiled/` and a top-level `compiled/[<name>/]` tree
    count when their pipeline id slugifies to `slug` and their profile label maps to
    `profile` (`compat.legacy_profiles`).
    """
    from osiris.compat.legacy_layout import SessionKind
    from osiris.compat.legacy_reader import scan_compiled
    from osiris.compat.legacy_session import read_session
    from osiris.core.fs_paths import slugify

    root = Path(root)
    wanted = slugify(slug)

    def fits(pipeline_slug: str | None, tree_profile: str | None) -> bool:
        return pipeline_slug == wanted and profiles.contract(tree_profile) == profile

    logs = root / _LOGS
    try:
        names = _session_names(logs, SessionKind.COMPILE) if is_real_dir(logs) else []
    except OSError:
        names = []  # an unlistable logs/ holds no build this lookup can use
    found: list[tuple[datetime, Path]] = []
    for name in names:
        session = read_session(logs / name)
        manifest = session.manifest_path
        if (
            session.status == "success"
            and manifest is not None
            and fits(session.pipeline_slug, session.profile)
        ):
            found.append((session.started_at or _OLDEST, manifest))
    # After the sessions: a top-level copy as new as its compile session loses the tie.
    found += [
        (tree.compiled_at or _OLDEST, tree.manifest_path)
        for tree in scan_compiled(root)
        if tree.manifest_path is not None and fits(tree.pipeline_slug, tree.profile)
    ]
    return max(found, key=lambda item: item[0])[1] if found else None
