"""What `osiris migrate` normalizes in a project upstream 0.5.x wrote.

See docs/migration/upstream-trees.md.

Upstream 0.5.x wrote the contract layout with its own quirks. The migrator keeps every byte
it wrote and adds what this version needs, each step reversible like the legacy ones:
- index records with absolute paths and 0.5.x field names are restated: a normalized record
  is appended for each run (the index is append-only; readers keep a run's newest record),
  and a record is added for each failed run 0.5.x never indexed;
- a failed compile's run folder left flat in `run_logs/run_<ms>/` moves to its contract place;
- builds filed under the OML file's name instead of the pipeline's move to the pipeline's;
- pointers with absolute paths are rewritten in place (their mtime comes back on rollback),
  duplicate pointers (one per file name and one per pipeline id) are archived;
- `aiop/index/`, `aiop/latest` and `build/.../LATEST` are archived under `.osiris/legacy/`.
Counters in `counters.sqlite` are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from osiris.compat.legacy_files import Notes, read_manifest
from osiris.compat.legacy_session import UNKNOWN_PIPELINE, pipeline_from_ref
from osiris.compat.migrate.ops import Problem, WritePointer
from osiris.compat.migrate.saved_plan import PlannedItem
from osiris.core import foreign_records, session_events
from osiris.core.compiler import build_identity
from osiris.core.foreign_records import UPSTREAM_05, folder_key
from osiris.core.fs_paths import RunNaming, manifest_slug, safe_token
from osiris.core.manifest_hash import manifest_hash
from osiris.core.run_index import RunIndexReader, RunRecord, is_safe_segment, read_pointer
from osiris.core.run_order import MIGRATED
from osiris.core.run_sources import (
    EVENTS,
    SUMMARY,
    ContractSource,
    RunFilter,
    first_line,
    folders_holding,
    json_line,
    read_events,
)
from osiris.errors import OsirisError

if TYPE_CHECKING:
    from osiris.compat.migrate.planner import _Planner

MIGRATED_FROM = "migrated_from"
_LATEST = "LATEST"  # 0.5.x: build/pipelines/<profile>/<stem>/LATEST, a third pointer
_AIOP_INDEX = "index"
_AIOP_LATEST = "latest"


@dataclass(frozen=True)
class _Build:
    manifest: dict[str, Any]
    rel: PurePosixPath  # the manifest, where it will be after the migration
    slug: str
    profile: str | None
    generated_at: str


def plan(planner: _Planner) -> None:
    """Add the steps that normalize what upstream 0.5.x wrote (nothing when it wrote none)."""
    Normalizer(planner).run()


class Normalizer:
    """One pass over a project's contract folders for what upstream 0.5.x left."""

    def __init__(self, planner: _Planner) -> None:
        self.planner = planner
        self.project = planner.project
        self.root = planner.root
        self.reader = RunIndexReader(self.project.index_dir, self.root)
        self.builds: dict[PurePosixPath, _Build] = {}  # by the manifest's path before the move

    def rel(self, path: Path) -> PurePosixPath:
        return self.planner.rel(path)

    def run(self) -> None:
        if not self._wrote_anything():
            return
        self.place_builds()
        self.restate_records()
        self.add_unindexed_runs()
        self.rewrite_pointers()
        self.archive_leftovers()

    def _wrote_anything(self) -> bool:
        upstream = foreign_records.is_upstream_05
        index = self.project.runs_index
        self.planner.entry(index)
        return (index.is_file() and _any_line(index, upstream)) or self.planner.entry(
            self.project.aiop_dir / _AIOP_INDEX
        ) is not None

    # -- builds ---------------------------------------------------------------------------
    def _manifests(self) -> list[Path]:
        return sorted(folders_holding(self.project.build_dir / "pipelines", ("manifest.yaml",)))

    def place_builds(self) -> None:
        """Builds under the OML file's name move under the pipeline's slug."""
        notes = Notes(self.root)
        for folder in self._manifests():
            manifest_file = folder / "manifest.yaml"
            self.planner.entry(manifest_file)
            manifest = read_manifest(manifest_file, notes, required=False)
            if manifest is None:
                continue
            label = (manifest.get("meta") or {}).get("profile")
            profile = self.planner.profiles.contract(label)
            slug = manifest_slug(manifest)
            src = self.rel(folder)
            dst = src
            if slug and folder.parent.name != slug:
                dst = self.rel(folder.parent.parent / slug / folder.name)
                note = f"filed under {folder.parent.name} (its OML file's name), not its pipeline's"
                self.planner.place("build", src, dst, note=note)
            self.builds[self.rel(manifest_file)] = _Build(
                manifest=manifest,
                rel=dst / "manifest.yaml",
                slug=slug,
                profile=profile,
                generated_at=str((manifest.get("meta") or {}).get("generated_at") or ""),
            )

    def _moved(self, stored: str | None) -> str | None:
        if not stored:
            return None
        build = self.builds.get(PurePosixPath(stored))
        return str(build.rel) if build else stored

    # -- index records --------------------------------------------------------------------
    def restate_records(self) -> None:
        """A normalized record for each run whose newest record is 0.5.x's."""
        packs = {folder_key(p.name): p for p in folders_holding(self.project.aiop_dir, (SUMMARY,))}
        for record in self.reader.query():
            if record.extra.get("written_by") != UPSTREAM_05 or record.source == MIGRATED:
                continue
            profile, why = self.planner.profile(record.profile)
            if why:
                problem = f"run {record.run_id} cannot be restated: {why}"
                self.planner.conflicts.append(Problem(PurePosixPath(".osiris/index"), problem))
                continue
            aiop = self.reader.resolve_path(record.aiop_path)
            if aiop is None or not (aiop / SUMMARY).is_file():
                # 0.5.x wrote some packs under the command's profile, not the run's.
                aiop = packs.get(folder_key(record.run_id))
            self.planner.records.append(
                replace(
                    record,
                    pipeline_slug=_usable_slug(record.pipeline_slug),
                    profile=profile,
                    aiop_path=str(self.rel(aiop)) if aiop else None,
                    build_manifest_path=self._moved(record.build_manifest_path),
                    source=MIGRATED,
                    extra={**record.extra, MIGRATED_FROM: UPSTREAM_05},
                )
            )

    def add_unindexed_runs(self) -> None:
        """A record for each run folder 0.5.x never indexed (its failed runs)."""
        source = ContractSource(
            self.root, self.project.index_dir, self.project.run_logs_dir, self.project.aiop_dir
        )
        notes = Notes(self.root)
        for folder in source.log_folders(RunFilter()):
            first = first_line(folder.path / EVENTS)
            if folder.indexed or not foreign_records.is_upstream_events(first):
                continue
            self.planner.entry(folder.path / EVENTS)
            events = read_events(folder.path / EVENTS)
            facts = session_events.run_facts(events, [])
            slug = folder.pipeline_slug
            if folder.path.parent == self.project.run_logs_dir and facts.pipeline_ref:
                # A compile that failed inside `osiris run`: its OML file names the pipeline.
                slug = pipeline_from_ref(facts, self.root, notes)[1] or slug
            profile, why = self.planner.profile(facts.profile)
            src = self.rel(folder.path)
            if why:
                self.planner.conflicts.append(Problem(src, f"this run cannot be placed: {why}"))
                continue
            run_dir: PurePosixPath | None = src
            if folder.path.parent == self.project.run_logs_dir and facts.started_at:
                run_dir = self._flat_run_home(folder.run_id, slug, profile, facts, src)
                if run_dir is None:
                    continue
            self.planner.records.append(
                RunRecord(
                    run_id=folder.run_id,
                    pipeline_slug=_usable_slug(slug),
                    profile=profile,
                    started_at=folder.started_at,
                    finished_at=folder.finished_at,
                    status=folder.status if folder.status in ("success", "failed") else "failed",
                    error=facts.error or None,
                    duration_ms=facts.duration_ms,
                    run_logs_path=str(run_dir),
                    build_manifest_path=self._run_build(folder.path),
                    source=MIGRATED,
                    extra={
                        MIGRATED_FROM: UPSTREAM_05,
                        "indexed_by": "osiris migrate",
                    },
                )
            )

    def _flat_run_home(
        self,
        run_id: str,
        slug: str,
        profile: str | None,
        facts: session_events.SessionFacts,
        src: PurePosixPath,
    ) -> PurePosixPath | None:
        assert facts.started_at is not None
        naming = RunNaming(
            pipeline_slug=_usable_slug(slug),
            profile=profile,
            manifest_hash="",
            manifest_short="",
            run_id=safe_token(run_id),
            run_ts=self.project.run_ts(facts.started_at),
        )
        try:
            dst = self.planner.contract_rel(self.project.run_dir(naming), src)
        except OsirisError as exc:
            self.planner.conflicts.append(Problem(src, f"this run cannot be placed: {exc}"))
            return None
        if dst is not None:
            note = "a failed compile's run folder, left outside its pipeline's folder"
            self.planner.place("run", src, dst, note=note)
        return dst

    def _run_build(self, run_dir: Path) -> str | None:
        notes = Notes(self.root)
        copy = read_manifest(run_dir / "manifest.yaml", notes, required=False) or {}
        stored = (copy.get("metadata") or {}).get("source_manifest_path")
        portable = self.reader.resolve_path(stored) if isinstance(stored, str) else None
        if portable is None or not portable.is_file():
            return None
        return self._moved(str(self.rel(portable)))

    # -- pointers -------------------------------------------------------------------------
    def rewrite_pointers(self) -> None:
        latest_dir = self.project.last_compile_pointer.parent / "latest"
        files = sorted(latest_dir.glob("*.txt")) if latest_dir.is_dir() else []
        newest: dict[str, tuple[str, Path, _Build]] = {}
        pointed = {file: self._pointed(file) for file in files}
        for file, build in pointed.items():
            if build is None:
                continue
            if build.slug not in newest or build.generated_at > newest[build.slug][0]:
                newest[build.slug] = (build.generated_at, file, build)
        keep: set[Path] = set()
        for slug, (_, _, build) in sorted(newest.items()):
            target = self.project.latest_pointer(slug)
            keep.add(target)
            self._point(target, build)
        for file, build in pointed.items():
            if file not in keep and build is not None:
                self.planner.archive(self.rel(file), "a duplicate 0.5.x pointer")
        last = self.project.last_compile_pointer
        build = self._pointed(last) if last.is_file() else None
        if build is not None:
            self._point(last, build)

    def _pointed(self, file: Path) -> _Build | None:
        """The build a 0.5.x pointer names, or None (then it is archived, with why)."""
        self.planner.entry(file)
        pointer = read_pointer(file)
        if pointer is None:
            return None
        manifest = self.reader.resolve_path(pointer.manifest_path)
        rel = self.rel(manifest) if manifest is not None and manifest.is_file() else None
        build = self.builds.get(rel) if rel is not None else None
        if build is None:
            self.planner.archive(self.rel(file), "a 0.5.x pointer to a build that is gone")
        elif self.planner.profiles.problem((build.manifest.get("meta") or {}).get("profile")):
            self.planner.archive(self.rel(file), "a 0.5.x pointer to a build of no profile here")
            return None
        return build

    def _point(self, target: Path, build: _Build) -> None:
        try:
            _, digest = build_identity(build.manifest, self.planner.profiles, target)
        except OsirisError:
            digest = manifest_hash(build.manifest, build.profile)
        text = "".join(f"{line}\n" for line in (build.rel, digest, build.profile or ""))
        rel = self.rel(target)
        entry = self.planner.entry(target)
        prior = target.read_text(encoding="utf-8") if entry is not None else None
        if prior == text:
            return
        self.planner.need_dir(rel.parent)
        self.planner.claim(rel, rel)
        self.planner.pointers.append(
            WritePointer(
                rel,
                text,
                prior,
                entry.mtime_ns if entry is not None else None,
                times=self.planner.times(rel.parent),
            )
        )
        self.planner.items.append(PlannedItem("pointer", str(rel), str(rel), "relative paths"))

    # -- what has no contract home --------------------------------------------------------
    def archive_leftovers(self) -> None:
        aiop = self.project.aiop_dir
        for name, note in (
            (_AIOP_INDEX, "0.5.x AIOP index (the run index replaces it)"),
            (_AIOP_LATEST, "0.5.x aiop/latest link (latest pointers replace it)"),
        ):
            if self.planner.entry(aiop / name) is not None:
                self.planner.archive(self.rel(aiop / name), note)
        root = self.project.build_dir / "pipelines"
        for latest in sorted(root.glob(f"*/{_LATEST}")) + sorted(root.glob(f"*/*/{_LATEST}")):
            if self.planner.entry(latest) is not None:
                self.planner.archive(self.rel(latest), "a 0.5.x build pointer (LATEST)")
        by_pipeline = self.project.index_dir / "by_pipeline"
        raw = {r.extra.get(foreign_records.UPSTREAM_PIPELINE_ID) for r in self.planner.records}
        for name in sorted(n for n in raw if isinstance(n, str)):
            path = by_pipeline / f"{name}.jsonl"
            if self.planner.entry(path) is not None:
                self.planner.archive(
                    self.rel(path), "a 0.5.x per-pipeline index named by the raw pipeline id"
                )


def _any_line(path: Path, test: Callable[[dict[str, Any]], bool]) -> bool:
    try:
        with open(path, "rb") as handle:
            return any((data := json_line(line)) and test(data) for line in handle)
    except OSError:
        return False


def _usable_slug(slug: str | None) -> str:
    """A record's pipeline slug, or `unknown` when a damaged record's cannot name a file
    (the pipeline of a run nothing names, as for legacy sessions)."""
    return slug if slug and is_safe_segment(slug) else UNKNOWN_PIPELINE
