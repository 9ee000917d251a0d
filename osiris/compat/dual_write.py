"""Mode `dual` (compat.md §1): the contract layout first, then a legacy mirror of it.

The contract side is the source of truth and never reads the mirror back. Mirrored files
are hard links to their contract originals, so files appended while a run goes on are the
same file on both sides; a file replaced atomically (a new inode) is linked again. Where
links are impossible (another device, a filesystem without them) files are copied instead,
after every write. A mirror failure never fails the command: it is reported once per path
(as a `dual_write_error` event while the run can still record one, else as a warning) and
appended to `.osiris/compat/dual_write_errors.jsonl` for `osiris migrate status`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_writer import (
    LegacyCompile,
    Source,
    free_run_session_id,
    write_aiop,
    write_compile,
)
from osiris.core import aiop
from osiris.core.aiop import AiopPack
from osiris.core.compiler import CompileResult, PreparedBuild
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import append_jsonl, atomic_write_bytes
from osiris.core.run_index import RunRecord, utc_now_iso
from osiris.core.run_log import WriteObserver
from osiris.core.runner import ContractOutputs, RunPlan

# os.link failures that mean "no links here" (copy instead), not "the mirror is broken".
NO_LINK_ERRNOS = frozenset(
    {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
)


def errors_file(contract: FilesystemContract) -> Path:
    """`.osiris/compat/dual_write_errors.jsonl`: every mirror failure, for `migrate status`."""
    return contract.osiris_dir / "compat" / "dual_write_errors.jsonl"


class Linker:
    """Places mirror files: hard links while the filesystem allows them, then copies.

    It remembers the folders it made and the inode each link shares, so a write that
    only appended to a linked file costs one `stat` and nothing else.
    """

    def __init__(self) -> None:
        self.linking = True
        self.notes: list[str] = []
        self._folders: set[Path] = set()
        self._inodes: dict[Path, tuple[int, int]] = {}

    def folder(self, path: Path) -> None:
        """Make sure the folder `path` exists."""
        if path not in self._folders:
            path.mkdir(parents=True, exist_ok=True)
            self._folders.update((path, *path.parents))

    def put(self, target: Path, source: Source) -> None:
        """Put `source` at `target`: bytes are written, a file is linked (or copied).

        Nothing is synced: a mirror is rebuilt from its contract original, which is.
        """
        if isinstance(source, bytes):
            atomic_write_bytes(target, source, durable=False)
        elif not (self.linking and self._linked(Path(source), target)):
            atomic_write_bytes(target, Path(source).read_bytes(), durable=False)

    def _linked(self, source: Path, target: Path) -> bool:
        try:
            self._link(source, target)
        except OSError as exc:
            if exc.errno not in NO_LINK_ERRNOS:
                raise
            self.linking = False
            reason = f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"
            self.notes.append(
                f"dual mode: the legacy mirror cannot use hard links here ({reason}); "
                "its files are copied after every write instead"
            )
            return False
        return True

    def _link(self, source: Path, target: Path) -> None:
        st = os.stat(source)
        inode = (st.st_dev, st.st_ino)
        known = self._inodes.get(target)
        if known == inode:
            return  # the same file: appends to the original show up here too
        if known is None:
            self.folder(target.parent)
            try:
                os.link(source, target)
                self._inodes[target] = inode
                return
            except FileExistsError:
                pass
        # A new inode (the original was replaced atomically): link it under a temporary
        # name, then rename that over the old mirror, so the mirror is never missing.
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        os.link(source, temporary)
        try:
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._inodes[target] = inode

    def drain_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes


@dataclass
class Failures:
    """Mirror failures: each path once, appended to the errors file (which may fail too)."""

    contract: FilesystemContract
    stage: str
    run_id: str | None = None
    seen: set[str] = field(default_factory=set)

    def record(self, path: Path, exc: BaseException) -> dict[str, Any] | None:
        """The `dual_write_error` fields for a new failing path; None for a known one."""
        rel = self.contract.relative(path)
        if rel in self.seen:
            return None
        self.seen.add(rel)
        fields = {"path": rel, "error": f"{type(exc).__name__}: {exc}"}
        line = {"ts": utc_now_iso(), "stage": self.stage, "run_id": self.run_id, **fields}
        # The report still reaches the run's events or the command's warnings.
        with contextlib.suppress(OSError):
            append_jsonl(errors_file(self.contract), [line])
        return fields

    def warning(self, path: Path, exc: BaseException) -> list[str]:
        """A one-line warning for a failure no event can record any more."""
        fields = self.record(path, exc)
        return [f"legacy mirror: {fields['path']}: {fields['error']}"] if fields else []


class LegacyMirror:
    """Mirrors every file a run writes into its legacy session folder (a `WriteObserver`)."""

    def __init__(self, run_dir: Path, mirror_dir: Path, failures: Failures) -> None:
        self.run_dir = run_dir
        self.mirror_dir = mirror_dir
        self.failures = failures
        self.linker = Linker()
        self.enabled = True  # False once the mirror folder turned out to be unusable
        self.broken: str | None = None  # why, for the command's warnings
        self._reports: list[dict[str, Any]] = []
        self._started = False

    def _start(self) -> None:
        self._started = True
        try:
            # Exclusive: a folder that exists belongs to another session, never mix the two.
            self.mirror_dir.mkdir(parents=True)
            self.linker.folder(self.mirror_dir / layout.ARTIFACTS)
        except OSError as exc:
            self.enabled = False
            self.broken = f"{type(exc).__name__}: {exc}"
            self._report(self.mirror_dir, exc)

    def _report(self, path: Path, exc: BaseException) -> None:
        fields = self.failures.record(path, exc)
        if fields is not None:
            self._reports.append({"event": "dual_write_error", **fields})

    def file_written(self, rel: str, path: Path) -> None:
        if not self._started:
            self._start()
        if not self.enabled:
            return
        target = self.mirror_dir / rel
        try:
            self.linker.put(target, path)
        except OSError as exc:
            self._report(target, exc)

    def drain_reports(self) -> list[dict[str, Any]]:
        reports = [{"debug": note} for note in self.linker.drain_notes()] + self._reports
        self._reports = []
        return reports

    def closed(self) -> None:
        """Nothing to do: every file was mirrored as it was written."""


def _pack_sources(aiop_dir: Path) -> dict[str, Source]:
    # The legacy shard names, in the order of the contract's (events -> timeline, ...).
    annex = layout.AIOP_ANNEX
    sources: dict[str, Source] = {layout.RUN_CARD: aiop_dir / aiop.RUN_CARD}
    for ours, theirs in zip(aiop.ANNEX_SHARDS, layout.ANNEX_SHARDS, strict=True):
        sources[f"{annex}/{theirs}"] = aiop_dir / aiop.ANNEX / ours
    return sources


class DualRunOutputs:
    """Mode `dual`: the contract run (`ContractOutputs`) plus its legacy mirror `logs/run_<ms>/`.

    The mirror's session id is taken from the run's start time, its folder goes into the
    index record as `legacy_mirror`; its AIOP mirror is written after the contract pack.
    """

    fs_mode = "dual"

    def __init__(self, contract: FilesystemContract, run_id_format: list[str]) -> None:
        self.contract = contract
        self._contract_outputs = ContractOutputs(contract, run_id_format)
        self._mirrors: dict[Path, LegacyMirror] = {}

    @property
    def notes(self) -> list[str]:
        return self._contract_outputs.notes

    def new_run_id(self, slug: str, started_at: datetime, *, dry_run: bool) -> str:
        return self._contract_outputs.new_run_id(slug, started_at, dry_run=dry_run)

    def place(self, plan: RunPlan) -> RunPlan:
        session_id = free_run_session_id(self.contract.base_path, plan.started_at)
        return replace(plan, mirror_dir=self.contract.base_path / layout.LOGS_DIR / session_id)

    def observers(self, plan: RunPlan) -> list[WriteObserver]:
        assert plan.mirror_dir is not None  # set by place()
        failures = Failures(self.contract, "run", plan.run_id)
        mirror = LegacyMirror(plan.run_dir, plan.mirror_dir, failures)
        self._mirrors[plan.run_dir] = mirror
        return [mirror]

    def finish(self, plan: RunPlan, pack: AiopPack, record: RunRecord) -> list[str]:
        """The contract pack and record first, then the legacy AIOP mirror (warnings only)."""
        warnings = self._contract_outputs.finish(plan, pack, record)
        mirror = self._mirrors.pop(plan.run_dir)
        if not mirror.enabled:
            # Already a dual_write_error event; the command should say so too.
            where = self.contract.relative(mirror.mirror_dir)
            return [*warnings, f"legacy mirror: {where} not written: {mirror.broken}"]
        session_id = mirror.mirror_dir.name
        root = self.contract.base_path
        try:
            write_aiop(
                root,
                session_id,
                pack,
                record,
                files=_pack_sources(plan.aiop_dir),
                put=mirror.linker.put,
                durable=False,
            )
        except OSError as exc:
            failures = replace(mirror.failures, stage="finish")
            warnings += failures.warning(root / layout.AIOP_DIR / session_id, exc)
        warnings += mirror.linker.drain_notes()
        return warnings


@dataclass(frozen=True)
class CompileMirror:
    """The legacy side of a dual-mode compile: the session written, or why it is missing."""

    legacy: LegacyCompile | None
    notes: list[str]
    warnings: list[str]


def mirror_compile(
    prepared: PreparedBuild, build: CompileResult, contract: FilesystemContract
) -> CompileMirror:
    """Mirror a contract build into a legacy compile session, `.last_compile.json` and
    `compiled/`: manifest and cfgs hard-linked to the build, the rest derived."""
    linker = Linker()
    try:
        legacy = write_compile(
            prepared,
            contract.base_path,
            fs_mode="dual",
            build_dir=build.build_dir,
            put=linker.put,
        )
    except OSError as exc:
        warnings = Failures(contract, "compile").warning(contract.base_path / layout.LOGS_DIR, exc)
        return CompileMirror(None, linker.drain_notes(), warnings)
    return CompileMirror(legacy, linker.drain_notes(), [])
