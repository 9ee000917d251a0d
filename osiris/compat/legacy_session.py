"""One legacy session folder `logs/<session_id>/`, read into a `LegacySession`, and its run record.

Every run session is a run a user may need, so each one gets a pipeline: from the runner's
events, else its manifest, else the file the command was given (a manifest's `pipeline.id`,
an OML file's `name:`, else the file's name), else its AIOP; when nothing names one, the
pipeline is `unknown` (docs/migration/upstream-trees.md). Damage becomes warnings naming the
file, never an exception.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_files import (
    DIR,
    LINK,
    Notes,
    Tree,
    dig,
    file_inside,
    first_profile,
    hash_for,
    is_real_dir,
    kind_of,
    kinds_in,
    manifest_profile,
    profile_sources,
    read_json,
    read_jsonl,
    read_manifest,
    read_tree,
    rel_text,
    safe_hash,
    slug_of,
    text,
)
from osiris.compat.legacy_layout import SessionKind, classify_session, session_time
from osiris.compat.legacy_pointers import LegacyPointer, read_pointer
from osiris.core import session_events
from osiris.core.fs_paths import manifest_slug, slugify
from osiris.core.profile_map import ProfileMap
from osiris.core.run_index import RunRecord, utc_now_iso
from osiris.core.session_events import Status

if TYPE_CHECKING:
    from osiris.compat.legacy_reader import LegacyAiop

# The pipeline of a run whose files name none (docs/migration/upstream-trees.md).
UNKNOWN_PIPELINE = "unknown"
PipelineSource = Literal["events", "manifest", "oml_name", "oml_file", "aiop", "none"]
# Upstream's AIOP says this when its run never compiled.
_UNNAMED = "unnamed"


@dataclass(frozen=True)
class LegacySession:
    """One `logs/<session_id>/` folder with everything derivable from its files."""

    session_id: str
    kind: SessionKind
    path: Path
    status: Status
    pipeline_id: str | None
    pipeline_slug: str | None
    profile: str | None  # legacy null / "default" read as None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    rows_in: int | None
    rows_out: int | None
    manifest: dict[str, Any] | None = field(repr=False)
    manifest_path: Path | None
    manifest_hash: str | None  # of the manifest as compiled, with `profile`
    last_pointer: LegacyPointer | None
    aiop: LegacyAiop | None
    warnings: list[str] = field(default_factory=list)
    pipeline_from: PipelineSource = "none"
    failed_in: Literal["compile", "run"] | None = None
    error: str | None = None

    def manifest_hash_for(self, profiles: ProfileMap) -> str | None:
        """The contract hash once the legacy profile label maps to its contract profile."""
        return hash_for(self.manifest, self.profile, self.manifest_hash, profiles.contract)

    def with_aiop(self, aiop: LegacyAiop | None) -> LegacySession:
        """This session joined with its AIOP, which names the pipeline when nothing else did."""
        if aiop is None and self.aiop is None:
            return self
        joined = replace(self, aiop=aiop)
        name = aiop.pipeline_name if aiop is not None else None
        if self.pipeline_from != "none" or not name or name == _UNNAMED:
            return joined
        return replace(
            joined,
            pipeline_id=_upstream_pipeline_id(name),
            pipeline_slug=slugify(name) or UNKNOWN_PIPELINE,
            pipeline_from="aiop",
        )


def _upstream_pipeline_id(name: str) -> str:
    # What the old compiler made of an OML `name:` (its manifest's pipeline.id).
    return name.strip().lower().replace(" ", "_")


def _is_empty_dir(path: Path) -> bool:
    if not is_real_dir(path):
        return False
    try:
        with os.scandir(path) as listing:
            return next(listing, None) is None
    except OSError:
        return False


def _named_file(root: Path, stored: str) -> Path | None:
    """The file a command was given, found in this project even after the project moved."""
    parts = PurePosixPath(stored.replace("\\", "/")).parts
    if not parts:
        return None
    if not parts[0].startswith("/"):
        return file_inside(root, "/".join(parts))
    # Absolute: the longest tail of it that is a file here.
    return next(
        (f for i in range(1, len(parts)) if (f := file_inside(root, "/".join(parts[i:])))), None
    )


def pipeline_from_ref(
    facts: session_events.SessionFacts, root: Path, notes: Notes
) -> tuple[str | None, str | None, PipelineSource]:
    """(pipeline id, slug, source) from the file the command was given."""
    ref = facts.pipeline_ref
    if not ref:
        return None, None, "none"
    found = _named_file(root, ref)
    data = read_manifest(found, notes, required=False) if found is not None else None
    if facts.pipeline_ref_kind == "manifest":
        pipeline_id = text(dig(data, ("pipeline", "id")))
        if not pipeline_id or data is None:
            return None, None, "none"
        return pipeline_id, manifest_slug(data) or None, "manifest"
    name = text(dig(data, ("name",)))
    if name:
        return _upstream_pipeline_id(name), slugify(name) or None, "oml_name"
    stem = PurePosixPath(ref.replace("\\", "/")).stem
    return (stem, slug_of(stem), "oml_file") if stem else (None, None, "none")


def _compile_status(
    events: list[dict[str, Any]], path: Path, has_last_json: bool, compiled: str | None
) -> Status:
    # legacy-layout.md §2: a decisive event, else `.last.json` (success) or an empty compiled/.
    status = session_events.compile_status(events)
    if status is not None:
        return status
    if has_last_json:
        return "success"
    if compiled == DIR and _is_empty_dir(path / layout.SESSION_COMPILED):
        return "failed"
    return _other_status(events)


def _other_status(events: list[dict[str, Any]]) -> Status:
    names = {e.get("event") for e in events if isinstance(e.get("event"), str)}
    return "interrupted" if "run_start" in names and "run_end" not in names else "unknown"


def _compiled_tree(folder: str, kind: str | None, notes: Notes, own: Tree | None = None) -> Tree:
    """The session's `compiled/` folder read (a link to one is never followed), under the
    session's `own` manifest when it has one: its tree's files are read only when that
    manifest names no profile, all they could add."""
    if kind == LINK:
        notes.add(f"{folder}/{layout.SESSION_COMPILED}", "a symlink (never followed); ignored")
    if kind != DIR:
        return own or _no_tree()
    if own is not None and manifest_profile(own.manifest) is not None:
        return own
    tree = read_tree(Path(folder, layout.SESSION_COMPILED), notes, manifest_required=False)
    if own is None:
        return tree
    return replace(tree, manifest=own.manifest, manifest_path=own.manifest_path)


def _no_tree() -> Tree:
    return Tree(None, None, {}, {})


def _read_run(
    path: Path, kinds: Callable[[str], str | None], notes: Notes
) -> tuple[Tree, bool | None]:
    folder = str(path)
    if kinds(layout.OSIRIS_LOG) is None:
        notes.add(f"{folder}/{layout.OSIRIS_LOG}", "missing")
    status_file = f"{folder}/{layout.STATUS_JSON}"
    status_json = read_json(status_file, notes, required=False, kind=kinds(layout.STATUS_JSON))
    ok = status_json.get("ok") if status_json else None
    own_file = f"{folder}/{layout.SESSION_MANIFEST}"
    own = read_manifest(own_file, notes, required=False, kind=kinds(layout.SESSION_MANIFEST))
    # The run's own manifest is the one it ran: it stands before its compile's.
    own_tree = Tree(own, path / layout.SESSION_MANIFEST, {}, {}) if own is not None else None
    tree = _compiled_tree(folder, kinds(layout.SESSION_COMPILED), notes, own_tree)
    return tree, ok if isinstance(ok, bool) else None


def _kinds(folder: str) -> Callable[[str], str | None]:
    """What is at each name in `folder`: from one listing when it can be listed, else
    looked at name by name."""
    listed = kinds_in(folder)
    if listed is None:
        return lambda name: kind_of(f"{folder}/{name}")
    return listed.get


def _read_activity(
    session_dir: Path, kind: SessionKind, notes: Notes, kinds: Callable[[str], str | None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A session's events and metrics, as parsed from its files."""
    folder = str(session_dir)
    events = read_jsonl(f"{folder}/{layout.EVENTS}", notes, kind=kinds(layout.EVENTS))
    metrics = read_jsonl(
        f"{folder}/{layout.METRICS}",
        notes,
        required=kind is SessionKind.RUN,
        kind=kinds(layout.METRICS),
    )
    return events, metrics


def session_activity(session: LegacySession) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events and metrics of a session read before, read again: a `LegacySession` keeps
    only the facts taken from them (thousands of sessions' events would fill the memory)."""
    return _read_activity(
        session.path, session.kind, Notes(session.path), _kinds(str(session.path))
    )


def read_session(session_dir: Path, root: Path | None = None) -> LegacySession:
    """Read one `logs/<session_id>/` folder; damage becomes warnings, never an exception.

    The folder is listed once; each file is then opened only when the listing holds it.
    Its events and metrics give the session's facts and are not kept."""
    # Thousands of sessions: a Path given is taken as it is (making one again parses it).
    path = session_dir if isinstance(session_dir, Path) else Path(session_dir)
    if root is None:
        root = path.parent.parent
    elif not isinstance(root, Path):
        root = Path(root)
    folder = str(path)
    session_id = path.name
    kind = classify_session(session_id)
    notes = Notes(root)
    kinds = _kinds(folder)
    events, metrics = _read_activity(path, kind, notes, kinds)
    if kinds(layout.ARTIFACTS) != DIR:
        notes.add(f"{folder}/{layout.ARTIFACTS}", "missing")
    last_pointer = None
    ok = None
    tree = _no_tree()
    if kind is SessionKind.COMPILE:
        if kinds(layout.LAST_JSON) is not None:
            last_pointer = read_pointer(path / layout.LAST_JSON, root)
        tree = _compiled_tree(folder, kinds(layout.SESSION_COMPILED), notes)
    elif kind is SessionKind.RUN:
        tree, ok = _read_run(path, kinds, notes)
    facts = session_events.run_facts(events, metrics, ok=ok)
    status: Status
    if kind is SessionKind.RUN:
        status = facts.status
        if ok is not None and status in ("success", "failed") and ok != (status == "success"):
            notes.add(
                f"{folder}/{layout.STATUS_JSON}", f"ok={ok} disagrees with the events ({status})"
            )
    elif kind is SessionKind.COMPILE:
        status = _compile_status(
            events, path, last_pointer is not None, kinds(layout.SESSION_COMPILED)
        )
    else:
        status = _other_status(events)
    _note_missing(kind, status, facts, tree, folder, kinds(layout.STATUS_JSON), notes)
    pipeline_id = facts.pipeline_id
    source: PipelineSource = "events" if pipeline_id else "none"
    if pipeline_id is None:
        pipeline_id = text(dig(tree.manifest, ("pipeline", "id")))
        source = "manifest" if pipeline_id else "none"
    # The OML name a manifest keeps gives the slug this version's compiler gives.
    slug = (manifest_slug(tree.manifest) or None) if tree.manifest else slug_of(pipeline_id)
    if pipeline_id is None and kind is SessionKind.RUN:
        pipeline_id, slug, source = pipeline_from_ref(facts, root, notes)
    profile = first_profile(*profile_sources(tree), facts.profile)
    started = facts.started_at or session_time(session_id)
    return LegacySession(
        session_id=session_id,
        kind=kind,
        path=path,
        status=status,
        pipeline_id=pipeline_id,
        pipeline_slug=slug or (UNKNOWN_PIPELINE if kind is SessionKind.RUN else None),
        profile=profile,
        started_at=started,
        finished_at=facts.finished_at,
        duration_ms=facts.duration_ms,
        rows_in=facts.rows_in,
        rows_out=facts.rows_out,
        manifest=tree.manifest,
        manifest_path=tree.manifest_path,
        manifest_hash=safe_hash(tree.manifest, profile, notes, tree.manifest_path),
        last_pointer=last_pointer,
        aiop=None,
        warnings=notes.lines + (last_pointer.warnings if last_pointer else []),
        pipeline_from=source if slug else "none",
        failed_in=facts.failed_in if kind is SessionKind.RUN else None,
        error=facts.error if kind is SessionKind.RUN else None,
    )


def _note_missing(
    kind: SessionKind,
    status: Status,
    facts: session_events.SessionFacts,
    tree: Tree,
    folder: str,
    status_json: str | None,
    notes: Notes,
) -> None:
    """Warn about files a session of its kind and outcome should have and lacks."""
    if kind is SessionKind.COMPILE and status == "success" and tree.manifest is None:
        notes.add(f"{folder}/{layout.SESSION_COMPILED}/{layout.TREE_MANIFEST}", "missing")
    if kind is not SessionKind.RUN or facts.failed_in == "compile":
        return  # a run whose compile failed never had a manifest or a status.json
    if tree.manifest is None:
        notes.add(f"{folder}/{layout.SESSION_MANIFEST}", "missing")
    # A run stopped by a signal never got to write its status.json.
    if status != "interrupted" and status_json is None:
        notes.add(f"{folder}/{layout.STATUS_JSON}", "missing")


# -- index records --------------------------------------------------------------------------


def session_to_record(
    session: LegacySession,
    *,
    profiles: ProfileMap,
    base_path: Path,
    manifest_short_len: int = 7,
) -> RunRecord:
    """The run index record of a legacy run session (`source: legacy`).

    The contract's status is success|failed: a run stopped before its end is recorded as
    `failed` with `legacy_status: interrupted` in the record's extra keys, and a run whose
    outcome no file tells stays `unknown`. Where its pipeline came from rides along as
    `legacy_pipeline_from` when it was not the run's own events.
    """
    aiop = session.aiop
    aiop_path = (aiop.json_path or aiop.folder or aiop.run_card_path) if aiop else None
    return RunRecord(
        **record_fields(session, profiles=profiles, manifest_short_len=manifest_short_len),
        run_logs_path=_stored_path(session.path, base_path),
        aiop_path=_stored_path(aiop_path, base_path),
        build_manifest_path=_stored_path(session.manifest_path, base_path),
    )


def record_fields(
    session: LegacySession, *, profiles: ProfileMap, manifest_short_len: int
) -> dict[str, Any]:
    """The fields of a run session's record (`session_to_record`) but its three paths,
    which depend on where the run is kept."""
    if session.kind is not SessionKind.RUN:
        raise ValueError(f"{session.session_id} is a {session.kind.value} session, not a run")
    digest = session.manifest_hash_for(profiles)
    status, extra = session.status, {}
    if status == "interrupted":
        status, extra = "failed", {"legacy_status": "interrupted"}
    if session.failed_in == "compile":
        extra["legacy_status"] = "failed_compile"
    if session.pipeline_from not in ("events", "manifest"):
        extra["legacy_pipeline_from"] = session.pipeline_from
    return {
        "run_id": session.session_id,
        "pipeline_slug": session.pipeline_slug or UNKNOWN_PIPELINE,
        "profile": profiles.contract(session.profile),
        "manifest_hash": digest,
        "manifest_short": digest[:manifest_short_len] if digest else None,
        "started_at": utc_now_iso(session.started_at) if session.started_at else None,
        "finished_at": utc_now_iso(session.finished_at) if session.finished_at else None,
        "status": status,
        "error": session.error or None,
        "duration_ms": session.duration_ms,
        "rows_in": session.rows_in,
        "rows_out": session.rows_out,
        "fs_mode": "legacy",
        "source": "legacy",
        "legacy_session_id": session.session_id,
        "extra": extra,
    }


def _stored_path(path: Path | None, base_path: Path) -> str | None:
    return None if path is None else rel_text(path, base_path)
