"""`osiris migrate plan`: every legacy item, its contract home, and the steps that move it.

The mapping is legacy-layout.md §5. A plan never writes; it records what it saw (each moved
item's own entry and the files read in it, prior bytes) inside its steps, and its
fingerprint is a digest of those steps, so planning an unchanged tree again gives the same
fingerprint. How a step is made from a decision is plan_steps.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_files import FileRead, recording_reads, rel_text
from osiris.compat.legacy_layout import SessionKind
from osiris.compat.legacy_reader import (
    AiopVariant,
    ItemKind,
    LegacyAiop,
    LegacyInventory,
    LegacyItem,
    scan_legacy,
)
from osiris.compat.legacy_session import (
    UNKNOWN_PIPELINE,
    LegacySession,
    record_fields,
    session_activity,
)
from osiris.compat.migrate import inventory
from osiris.compat.migrate.mirrors import MirrorPair, mirror_pairs
from osiris.compat.migrate.ops import (
    AppendIndex,
    IndexFile,
    Op,
    Problem,
    WriteFile,
    WritePointer,
)
from osiris.compat.migrate.plan_notes import _NO_HOME, _Build, _link_message, _run_note, _summary
from osiris.compat.migrate.plan_steps import StepBuilder
from osiris.compat.migrate.saved_plan import (
    MIRROR_NOTE,
    Plan,
    PlannedItem,
)
from osiris.compat.migrate.seen import ROOT
from osiris.core import aiop
from osiris.core.fs_paths import FilesystemContract, RunNaming, safe_token
from osiris.core.fsio import canonical_json
from osiris.core.gc_pause import gc_paused
from osiris.core.profile_map import ProfileMap
from osiris.core.run_index import IndexPaths, RunRecord
from osiris.errors import OsirisError


@gc_paused
def plan(project: FilesystemContract, *, mirrors: Sequence[MirrorPair] | None = None) -> Plan:
    """Scan the project and plan its migration to the contract layout; writes nothing.

    `mirrors`: the project's `mirror_pairs`, when the caller has read them already."""
    with recording_reads() as reads:
        found = scan_legacy(project.base_path)
    # Nothing changes the tree while planning: each path is looked up once.
    with inventory.remembered():
        pairs = mirror_pairs(project) if mirrors is None else mirrors
        return _Planner(project, found, reads, pairs).build()


_CHANGED_WHILE_PLANNED = "changed while it was planned; plan again"


class _Planner(StepBuilder):
    """One pass over an inventory: decides a home for every item (legacy-layout.md §5)."""

    def __init__(
        self,
        project: FilesystemContract,
        found: LegacyInventory,
        reads: Mapping[str, FileRead],
        mirrors: Sequence[MirrorPair],
    ) -> None:
        super().__init__(project, reads)
        self.found = found
        self.profiles = ProfileMap.from_config(project.config)
        self.records: list[RunRecord] = []
        self.left: list[PlannedItem] = []
        self.builds: dict[tuple[str | None, str, str], _Build] = {}
        self.compile_builds: dict[str, _Build] = {}
        self.placed_aiops: set[tuple[Path, ...]] = set()
        self.entry(self.project.runs_index)  # the mirrors are read from the run index
        self.mirrors = {PurePosixPath(pair.mirror): pair.run_id for pair in mirrors}

    # -- profiles and builds ------------------------------------------------------------
    def profile(self, legacy: str | None) -> tuple[str | None, str | None]:
        """The contract profile of a legacy label (compat.legacy_profiles), or why none."""
        why = self.profiles.problem(legacy)
        return (None, why) if why else (self.profiles.contract(legacy), None)

    def build_home(
        self, slug: str | None, legacy_profile: str | None, digest: str | None, src: PurePosixPath
    ) -> tuple[_Build | None, bool, str]:
        """(the build, whether this item moves there, why not)."""
        profile, why = self.profile(legacy_profile)
        if why:
            self.conflicts.append(Problem(src, f"this build cannot be placed: {why}"))
            return None, False, why
        if not slug or not digest:
            return None, False, "no readable manifest with a pipeline id"
        key = (profile, slug, digest)
        if key in self.builds:
            return self.builds[key], False, f"same build as {self.builds[key].rel}"
        try:
            path = self.project.build_path(slug, digest, profile)
        except OsirisError as exc:
            return None, False, exc.message
        rel = self.contract_rel(path, src)
        if rel is None:
            return None, False, "outside the project"
        build = _Build(rel, slug, digest, profile)
        self.builds[key] = build
        if self.entry(path) is not None:
            return build, False, "the contract build already exists"
        return build, True, ""

    # -- the mapping (legacy-layout.md §5) -----------------------------------------------
    def compiles(self) -> None:
        for session in self.found.sessions_by_kind().get(SessionKind.COMPILE, []):
            src = self.rel(session.path)
            if src in self.mirrors:
                self.archive(src, f"{MIRROR_NOTE} {self.mirrors[src]}")
                continue
            compiled = session.path / layout.SESSION_COMPILED
            tree = self.entry(compiled)
            if session.status != "success" or tree is None or tree.kind != "d":
                self.archive(src, f"{session.status} compile session")
                continue
            digest = session.manifest_hash_for(self.profiles)
            build, moves, why = self.build_home(session.pipeline_slug, session.profile, digest, src)
            if build is not None:
                self.compile_builds[session.session_id] = build
            if moves and build is not None:
                self.place("build", self.rel(compiled), build.rel)
                self.archive(src, "the rest of a compile session", skip=(layout.SESSION_COMPILED,))
            else:
                self.archive(src, f"compile session kept whole: {why}")

    def compiled_trees(self) -> None:
        for tree in self.found.compiled:
            src = self.rel(tree.path)
            digest = tree.manifest_hash_for(self.profiles)
            build, moves, why = self.build_home(tree.pipeline_slug, tree.profile, digest, src)
            owned = [self.rel(p) for p in tree.paths]
            if not moves or build is None:
                for rel in owned:
                    self.archive(rel, f"compiled tree: {why}")
            elif tree.name is None:
                # The top-level compiled/ holds the tree's files itself: move them one by one.
                self.need_dir(build.rel)
                for rel in owned:
                    self.place("build", rel, build.rel / rel.name)
            else:
                self.place("build", src, build.rel)

    def runs(self) -> None:
        for session in self.found.sessions_by_kind().get(SessionKind.RUN, []):
            src = self.rel(session.path)
            if src in self.mirrors:
                self.archive(src, f"{MIRROR_NOTE} {self.mirrors[src]}")
                continue
            why = self.run_home(session, src)
            if why:
                # Every run is migrated (a run a user may need): what stops one is for the
                # user to settle, so the plan cannot be applied until then.
                self.conflicts.append(Problem(src, f"this run cannot be placed: {why}"))

    def run_home(self, session: LegacySession, src: PurePosixPath) -> str | None:
        """Plan one run session; the reason it cannot be placed, if any."""
        profile, why = self.profile(session.profile)
        if why:
            return why
        if session.started_at is None:
            return "no start time in its events or its id"
        # A run whose compile failed has no manifest: its folder names carry no hash.
        digest = session.manifest_hash_for(self.profiles) or ""
        naming = RunNaming(
            pipeline_slug=session.pipeline_slug or UNKNOWN_PIPELINE,
            profile=profile,
            manifest_hash=digest,
            manifest_short=self.project.manifest_short(digest),
            run_id=safe_token(session.session_id),
            run_ts=self.project.run_ts(session.started_at),
        )
        try:
            run_dir = self.contract_rel(self.project.run_dir(naming), src)
        except OsirisError as exc:
            return exc.message
        if run_dir is None:
            return None  # contract_rel reported the conflict
        self.place("run", src, run_dir, note=_run_note(session))
        aiop_dir = self.aiop(session, naming) if session.aiop else None
        self.records.append(self.record(session, naming, run_dir, aiop_dir))
        return None

    def aiop(self, session: LegacySession, naming: RunNaming) -> PurePosixPath | None:
        found = session.aiop
        assert found is not None
        src = self.rel(found.folder or found.json_path or found.run_card_path)  # type: ignore[arg-type]
        folder = self.contract_rel(self.project.aiop_run_dir(naming), src)
        if folder is None:
            return None
        self.placed_aiops.add(found.paths)
        has_summary = (
            found.folder is not None and self.entry(found.folder / aiop.SUMMARY) is not None
        )
        if found.variant is AiopVariant.FOLDER:
            later = () if has_summary else (aiop.SUMMARY,)
            self.place("aiop", src, folder, later=later)
        else:
            if self.recorder.at(str(folder)) is not None:
                self.conflicts.append(Problem(folder, "already exists; never overwritten"))
            self.need_dir(folder)
            self.claim(folder, src)
            if found.json_path is not None:
                self.place("aiop", self.rel(found.json_path), folder / layout.AIOP_JSON)
            if found.run_card_path is not None:
                self.place("aiop", self.rel(found.run_card_path), folder / aiop.RUN_CARD)
        summary = None if has_summary else self.summary(session, naming)
        if summary is not None:
            self.writes.append(WriteFile(folder / aiop.SUMMARY, summary))
        return folder

    def summary(self, session: LegacySession, naming: RunNaming) -> str | None:
        """The AIOP `summary.json` of a run, from its events and metrics read again (the scan
        keeps only their facts), which must be the bytes the scan read."""
        with recording_reads() as again:
            events, metrics = session_activity(session)
        for name in (layout.EVENTS, layout.METRICS):
            path = f"{session.path}/{name}"
            if self.read_at.get(path) != again.get(path):
                self.conflicts.append(Problem(self.rel(Path(path)), _CHANGED_WHILE_PLANNED))
                return None
        return _summary(session, naming, events, metrics)

    def record(
        self,
        session: LegacySession,
        naming: RunNaming,
        run_dir: PurePosixPath,
        aiop_dir: PurePosixPath | None,
    ) -> RunRecord:
        fields = record_fields(
            session, profiles=self.profiles, manifest_short_len=self.project.short_len
        )
        build = self.builds.get((naming.profile, naming.pipeline_slug, naming.manifest_hash))
        manifest = None
        if build is not None:
            manifest = str(build.rel / layout.TREE_MANIFEST)
        elif session.manifest_path is not None:
            manifest = f"{run_dir}/{rel_text(session.manifest_path, session.path)}"
        fields.update(
            run_id=naming.run_id,
            profile=naming.profile,
            run_ts=naming.run_ts,
            run_logs_path=str(run_dir),
            aiop_path=str(aiop_dir) if aiop_dir else None,
            build_manifest_path=manifest,
            source="migrated",
        )
        return RunRecord(**fields)

    def pointer(self) -> None:
        pointer = self.found.last_compile
        if pointer is None:
            return
        src = self.rel(pointer.path)
        build = self.compile_builds.get(pointer.session_id or "")
        if build is None:
            self.archive(src, "names no migrated compile")
            return
        manifest = build.rel / layout.TREE_MANIFEST
        text = "".join(f"{line}\n" for line in (manifest, build.digest, build.profile or ""))
        kept = []
        for target in (self.project.latest_pointer(build.slug), self.project.last_compile_pointer):
            rel = self.contract_rel(target, src)
            if rel is None:
                continue
            if self.entry(target) is not None:
                kept.append(str(rel))
                continue
            self.need_dir(rel.parent)
            self.claim(rel, src)
            self.pointers.append(WritePointer(rel, text, None, times=self.times(rel.parent)))
            self.items.append(PlannedItem("pointer", str(src), str(rel)))
        note = (
            f"kept the newer contract pointer {', '.join(kept)}"
            if kept
            else "now a contract pointer"
        )
        self.archive(src, note)

    def side_folder(self, item: LegacyItem, home: Path, kind: str) -> None:
        src = item.rel
        if not item.is_dir:
            self.archive(src, "not a folder")
            return
        dst = self.contract_rel(home, src)
        if dst is None:
            return
        if self.entry(home) is None:
            self.place(kind, src, dst)
            return
        # The contract folder exists: move the entries into it (a same-named one conflicts).
        self.recorder.listed(str(src))
        for name in sorted(n.name for n in (self.root / src).iterdir()):
            self.place(kind, src / name, dst / name)

    def everything_else(self) -> None:
        homes = {
            ItemKind.CHAT_SESSIONS: (self.project.sessions_dir, "chat_sessions"),
            ItemKind.CACHE: (self.project.cache_dir, "cache"),
        }
        legacy_roots = {layout.LOGS_DIR, layout.COMPILED_DIR}
        for session in self.found.sessions:
            if session.kind not in (SessionKind.RUN, SessionKind.COMPILE):
                self.archive(self.rel(session.path), f"{session.kind.value} session")
        for found in self.found.aiops:
            if found.paths not in self.placed_aiops:
                for path in found.paths:
                    self.archive(self.rel(path), self.aiop_note(found))
        for item in self.found.items:
            if item.kind is ItemKind.USER_OUTPUT:
                self.left.append(
                    PlannedItem("user_output", str(item.rel), None, note="your own output")
                )
            elif item.is_symlink and (item.rel in legacy_roots or item.kind in homes):
                target = (self.root / item.rel).readlink()
                self.conflicts.append(Problem(item.rel, _link_message(self.root, target)))
            elif item.kind in homes:
                self.side_folder(item, *homes[item.kind])
            elif item.kind is ItemKind.UNKNOWN and item.rel in legacy_roots:
                self.conflicts.append(Problem(item.rel, "is not a folder; move it away first"))
            elif item.kind in _NO_HOME:
                self.archive(item.rel, item.note or _NO_HOME[item.kind])

    def aiop_note(self, found: LegacyAiop) -> str:
        if found.session_id is None:
            return "AIOP matched to no session"
        session = self.found.session(found.session_id)
        if session is not None and session.aiop is not None and session.aiop.paths != found.paths:
            return f"a second AIOP of {found.session_id}"
        return f"AIOP of {found.session_id}, which is not migrated"

    def index(self) -> Op | None:
        if not self.records:
            return None
        paths = IndexPaths(self.project.index_dir)
        every_run: list[str] = []
        by_slug: dict[str, list[str]] = {}
        for record in self.records:
            line = canonical_json(record.to_dict()) + "\n"
            every_run.append(line)
            by_slug.setdefault(record.pipeline_slug, []).append(line)
        per_file = {paths.runs: every_run}
        per_file.update((paths.by_pipeline(slug), lines) for slug, lines in by_slug.items())
        files = []
        for path, lines in per_file.items():
            rel = self.rel(path)
            self.need_dir(rel.parent)
            self.entry(path)
            files.append(IndexFile.planned(self.root, rel, "".join(lines)))
        note = f"{len(self.records)} run records"
        self.items.append(PlannedItem("index", "", str(self.rel(paths.runs)), note))
        touched = [f.path.parent for f in files if not f.existed] + [self.rel(paths.index_dir)]
        return AppendIndex(self.rel(paths.lock), tuple(files), times=self.times(*touched))

    def build(self) -> Plan:
        for folder in (ROOT, *(str(c) for c in self.found.containers)):
            self.recorder.listed(folder)
        self.compiles()
        self.compiled_trees()
        self.runs()
        from osiris.compat.migrate import upstream05  # it builds on this planner

        upstream05.plan(self)
        self.everything_else()
        self.pointer()
        return self.assemble(self.index(), self.left, self.found.warnings, self.profiles)
