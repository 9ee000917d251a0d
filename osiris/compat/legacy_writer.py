"""Writes the legacy (0.3) layout (legacy-layout.md §2-4) for the modes `legacy` and `dual`.

Every file is placed through a `Put`: mode `legacy` writes bytes and copies files with
`write_file`; mode `dual` passes one that hard-links files (`osiris.compat.dual_write`).
Times inside files this module writes use the old tool's format (`+00:00`), which every
legacy reader parses; run events keep the runner's format, shared with the contract side.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_layout import SessionKind, classify_session, new_session_id, session_time
from osiris.core.aiop import AiopPack
from osiris.core.compiler import MANIFEST_FILE, PreparedBuild
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import (
    append_jsonl,
    append_jsonl_files,
    atomic_write_bytes,
    canonical_json,
    pretty_json,
)
from osiris.core.run_index import RunRecord, parse_iso
from osiris.core.run_log import WriteObserver
from osiris.core.runner import RunPlan

Source = bytes | Path  # bytes to write, or a file whose bytes go there
Put = Callable[[Path, Source], None]

AIOP_CONTEXT = "https://osiris.dev/ontology/v1/aiop.jsonld"
# The legacy index's run status (legacy-layout.md §4) for each contract status.
_AIOP_STATUS = {"success": "completed", "failed": "failed"}


def write_file(target: Path, source: Source) -> None:
    """Write `source` (bytes, or the bytes of a file) at `target`, atomically."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    atomic_write_bytes(target, data)


def legacy_ts(moment: datetime | None = None) -> str:
    """A UTC time as the old tool wrote it: `2025-10-07T12:00:00.123456+00:00`."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


def _rel(path: Path, root: Path) -> str:
    try:
        return PurePosixPath(Path(path).relative_to(root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def free_run_session_id(root: Path, started_at: datetime) -> str:
    """`run_<epoch_ms>` of `started_at`, moved on by a millisecond while a session has it."""
    moment = started_at
    while True:
        session_id = new_session_id(SessionKind.RUN, moment)
        taken = (root / layout.LOGS_DIR / session_id, root / layout.AIOP_DIR / session_id)
        if not any(os.path.lexists(path) for path in taken):
            return session_id
        moment += timedelta(milliseconds=1)


def _new_session_dir(root: Path, kind: SessionKind, now: datetime) -> Path:
    logs = root / layout.LOGS_DIR
    logs.mkdir(parents=True, exist_ok=True)
    moment = now
    while True:
        folder = logs / new_session_id(kind, moment)
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            moment += timedelta(milliseconds=1)


class _SessionLog:
    """The `events.jsonl` and `metrics.jsonl` of a session this module writes itself."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _line(self, **fields: Any) -> dict[str, Any]:
        return {"ts": legacy_ts(), "session": self.folder.name, **fields}

    def event(self, name: str, **fields: Any) -> None:
        append_jsonl(self.folder / layout.EVENTS, [self._line(event=name, **fields)])

    def metric(self, name: str, value: float, **fields: Any) -> None:
        append_jsonl(self.folder / layout.METRICS, [self._line(metric=name, value=value, **fields)])


# -- compile sessions (legacy-layout.md §2-3) -------------------------------------------------


@dataclass(frozen=True)
class LegacyCompile:
    """A legacy compile session, the pointers naming it and the top-level `compiled/` copy."""

    session_id: str
    session_dir: Path
    compiled_dir: Path
    manifest_path: Path
    pointers: tuple[Path, ...]  # logs/.last_compile.json, then the session's .last.json
    top_level: Path


def compiled_tree(
    prepared: PreparedBuild, compiled_at: datetime, *, build_dir: Path | None = None
) -> dict[str, Source]:
    """The files of a legacy compiled tree: the build's manifest and cfgs, plus the derived
    `meta.json` and `effective_config.json`; with `build_dir`, the build's own files."""
    manifest = prepared.as_loaded().manifest
    tree: dict[str, Source] = {
        rel: (build_dir / rel if build_dir is not None else data)
        for rel, data in prepared.files.items()
        if rel == MANIFEST_FILE or rel.startswith(f"{layout.TREE_CFG}/")
    }
    # Our fingerprint is the content hash; the old tool's also hashed the compile time.
    fingerprints = {
        **manifest["pipeline"]["fingerprints"],
        "manifest_fp": f"sha256:{prepared.manifest_hash}",
    }
    meta = {
        "compiled_at": legacy_ts(compiled_at),
        "fingerprints": fingerprints,
        "oml_version": manifest["meta"]["oml_version"],
        "profile": prepared.profile,
    }
    effective = {"params": prepared.params, "profile": prepared.profile}
    tree[layout.TREE_META] = pretty_json(meta).encode("utf-8")
    tree[layout.TREE_EFFECTIVE_CONFIG] = pretty_json(effective).encode("utf-8")
    return tree


def write_compile(
    prepared: PreparedBuild,
    root: Path,
    *,
    fs_mode: str,
    build_dir: Path | None = None,
    put: Put = write_file,
) -> LegacyCompile:
    """Write `logs/compile_<ms>/`, `logs/.last_compile.json` and the top-level `compiled/`.

    The top-level `compiled/` gets this compile's files (replacing those of the same name);
    files of earlier compiles that this one does not write are left as they are.
    """
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    session = _new_session_dir(root, SessionKind.COMPILE, started)
    log = _SessionLog(session)
    pipeline_id = prepared.as_loaded().manifest["pipeline"]["id"]
    log.event(
        "run_start",
        command="compile",
        oml_path=_rel(prepared.oml_path, root),
        profile=prepared.profile,
        fs_mode=fs_mode,
    )
    (session / layout.ARTIFACTS).mkdir()
    log.event("compile_start", pipeline=pipeline_id)
    compiled = session / layout.SESSION_COMPILED
    tree = compiled_tree(prepared, started, build_dir=build_dir)
    for rel, source in tree.items():
        put(compiled / rel, source)
    manifest = compiled / layout.TREE_MANIFEST
    log.event(
        "compile_complete",
        manifest_path=_rel(manifest, root),
        manifest_hash=prepared.manifest_hash,
    )
    seconds = time.monotonic() - clock
    log.metric("compilation_duration", round(seconds, 6), unit="seconds")
    pointer = {
        "session_id": session.name,
        "manifest_path": _rel(manifest, root),
        "compiled_dir": _rel(compiled, root),
        "generated_at": legacy_ts(),
    }
    pointer_bytes = pretty_json(pointer).encode("utf-8")
    atomic_write_bytes(session / layout.LAST_JSON, pointer_bytes)
    log.event("run_end", duration_seconds=round(time.monotonic() - clock, 6), end_time=legacy_ts())
    atomic_write_bytes(root / layout.LAST_COMPILE, pointer_bytes)
    top_level = root / layout.COMPILED_DIR
    for rel, source in tree.items():
        put(top_level / rel, source)
    return LegacyCompile(
        session_id=session.name,
        session_dir=session,
        compiled_dir=compiled,
        manifest_path=manifest,
        pointers=(root / layout.LAST_COMPILE, session / layout.LAST_JSON),
        top_level=top_level,
    )


# -- run sessions and their AIOP (legacy-layout.md §2, §4) ----------------------------------


def _ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(canonical_json(r) + "\n" for r in records).encode("utf-8")


def pack_files(pack: AiopPack) -> dict[str, Source]:
    """A legacy AIOP folder's run card and annex shards, from a run's pack."""
    annex = layout.AIOP_ANNEX
    timeline, metrics, errors = layout.ANNEX_SHARDS
    return {
        layout.RUN_CARD: pack.run_card.encode("utf-8"),
        f"{annex}/{timeline}": _ndjson(pack.events),
        f"{annex}/{metrics}": _ndjson(pack.metrics),
        f"{annex}/{errors}": _ndjson(pack.errors),
    }


def _iso(stored: str | None) -> str | None:
    return legacy_ts(parse_iso(stored)) if stored else None


def aiop_document(session_id: str, pack: AiopPack, record: RunRecord) -> dict[str, Any]:
    """The legacy AIOP JSON of a run: its session id and status under `run`, as readers expect."""
    summary = pack.summary
    status = _AIOP_STATUS.get(record.status, record.status)
    rows_in, rows_out = record.rows_in or 0, record.rows_out or 0
    return {
        "@context": AIOP_CONTEXT,
        "@id": f"osiris://run/@{session_id}",
        "run": {
            "session_id": session_id,
            "run_id": record.run_id,
            "status": status,
            "started_at": _iso(record.started_at),
            "completed_at": _iso(record.finished_at),
            "duration_ms": record.duration_ms,
            "total_rows": rows_out,
            "rows_in": rows_in,
            "rows_out": rows_out,
            "fs_mode": record.fs_mode,
        },
        "pipeline": {
            "name": record.pipeline_slug,
            "profile": record.profile,
            "manifest_hash": record.manifest_hash,
            "manifest_path": record.build_manifest_path,
        },
        "evidence": {"steps": summary["steps"], "errors": summary["errors"]},
        "narrative": {
            "summary": f"Run {session_id} of {record.pipeline_slug} {status}: "
            f"{rows_in} rows in, {rows_out} rows out."
        },
    }


def write_aiop(
    root: Path,
    session_id: str,
    pack: AiopPack,
    record: RunRecord,
    *,
    files: Mapping[str, Source],
    put: Put = write_file,
    durable: bool = True,
) -> Path:
    """Write `logs/aiop/<sid>/`, its lines in `logs/aiop/index/` and the `latest` link.

    `files` holds the run card and annex shards (`pack_files`, or the contract pack's files
    in dual mode); `aiop.json` is derived here and written last, as the folder's seal.
    `durable=False` skips syncing the index lines: for a mirror, rebuilt from the contract.
    """
    aiop_root = root / layout.AIOP_DIR
    folder = aiop_root / session_id
    for rel, source in files.items():
        put(folder / rel, source)
    core = pretty_json(aiop_document(session_id, pack, record)).encode("utf-8")
    put(folder / layout.AIOP_JSON, core)
    annex = folder / layout.AIOP_ANNEX
    entry = {
        "session_id": session_id,
        "manifest_hash": record.manifest_hash,
        "status": _AIOP_STATUS.get(record.status, record.status),
        "started_at": _iso(record.started_at),
        "ended_at": _iso(record.finished_at),
        "duration_ms": record.duration_ms,
        "total_rows": record.rows_out or 0,
        "errors_count": len(pack.summary["errors"]),
        "bytes_core": len(core),
        "bytes_annex": sum(p.stat().st_size for p in annex.iterdir() if p.is_file()),
        "core_path": _rel(folder / layout.AIOP_JSON, root),
        "run_card_path": _rel(folder / layout.RUN_CARD, root),
        "annex_dir": _rel(annex, root),
    }
    batches = {root / layout.AIOP_INDEX: [entry]}
    if record.manifest_hash:
        by_pipeline = (
            root / layout.AIOP_BY_PIPELINE_DIR / layout.by_pipeline_name(record.manifest_hash)
        )
        batches[by_pipeline] = [entry]
    append_jsonl_files(batches, fsync=durable)
    refresh_latest(aiop_root, session_id)
    return folder


def refresh_latest(aiop_root: Path, session_id: str) -> None:
    """Point `logs/aiop/latest` at `session_id`'s folder, unless it names a newer run already.

    The link is relative (a moved project keeps it) and swapped in one rename.
    """
    latest = aiop_root / layout.AIOP_LATEST.name
    try:
        current = os.readlink(latest)
    except OSError:
        current = ""  # no link yet, or not a link (which the rename below replaces)
    ours = session_time(session_id)
    theirs = session_time(current) if classify_session(current) is SessionKind.RUN else None
    if theirs is not None and ours is not None and theirs > ours and (aiop_root / current).is_dir():
        return
    temporary = aiop_root / f".{latest.name}.{secrets.token_hex(4)}.tmp"
    os.symlink(session_id, temporary)
    try:
        os.replace(temporary, latest)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class LegacyRunOutputs:
    """Mode `legacy`: a run is the session `logs/run_<epoch_ms>/`; nothing of the contract.

    No run id counter, no index record, nothing under `.osiris/`: the run's AIOP goes to
    `logs/aiop/<sid>/` with its line in the legacy AIOP index.
    """

    fs_mode = "legacy"

    def __init__(self, contract: FilesystemContract) -> None:
        self.contract = contract
        self.root = contract.base_path
        self.notes: list[str] = []

    def new_run_id(self, slug: str, started_at: datetime, *, dry_run: bool) -> str:
        """The run's session id; nothing is written, so a dry run needs no care."""
        return free_run_session_id(self.root, started_at)

    def place(self, plan: RunPlan) -> RunPlan:
        return replace(
            plan,
            run_dir=self.root / layout.LOGS_DIR / plan.run_id,
            aiop_dir=self.root / layout.AIOP_DIR / plan.run_id,
        )

    def observers(self, plan: RunPlan) -> list[WriteObserver]:
        return []

    def finish(self, plan: RunPlan, pack: AiopPack, record: RunRecord) -> list[str]:
        try:
            write_aiop(self.root, plan.run_id, pack, record, files=pack_files(pack))
        except OSError as exc:
            return [f"the legacy AIOP of {plan.run_id} is incomplete: {exc}"]
        return []
