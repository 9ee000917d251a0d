"""Reads a project's legacy tree (legacy-layout.md) into typed values: the scan of `logs/`,
`compiled/` and the side folders, the AIOPs and their index, the compiled trees.

Damage never raises: a truncated line, a missing or unreadable file, or a file of the wrong
shape is skipped with a warning naming its project-relative path, and the item is kept
with what could be read. Symlinks are never followed: every directory is listed with
`os.scandir` and every file checked with `os.lstat` before it is read. One session folder
is read by `legacy_session`, one AIOP by `legacy_aiops`, one file by `legacy_files`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_aiops import (
    AiopVariant,
    LegacyAiop,
    LegacyAiopIndex,
    LegacyLink,
    _aiop,
    preferred_aiops,
)
from osiris.compat.legacy_files import (
    Notes,
    dig,
    entries,
    first_profile,
    hash_for,
    is_real_dir,
    is_regular_file,
    lstat,
    profile_sources,
    read_jsonl,
    read_tree,
    rel_text,
    safe_hash,
    slug_of,
    text,
)
from osiris.compat.legacy_layout import SessionKind, classify_session
from osiris.compat.legacy_pointers import LegacyPointer, read_pointer
from osiris.compat.legacy_session import LegacySession
from osiris.compat.session_reads import read_sessions
from osiris.core.fs_paths import manifest_slug
from osiris.core.profile_map import ProfileMap
from osiris.core.run_index import parse_moment

_SESSION_NAMED_JSON = re.compile(r"aiop\.(?P<sid>.+)\.json")
_SESSION_NAMED_CARD = re.compile(r"run-card\.(?P<sid>.+)\.md")
_BY_PIPELINE_FILE = re.compile(r"sha256:(?P<hex>[0-9a-fA-F]+)\.jsonl")


class ItemKind(str, Enum):
    """What a path found by `scan_legacy` is (legacy-layout.md §1)."""

    SESSION = "session"
    LAST_COMPILE = "last_compile"
    AIOP = "aiop"
    AIOP_INDEX = "aiop_index"
    AIOP_LATEST = "aiop_latest"
    COMPILED = "compiled"
    CHAT_SESSIONS = "chat_sessions"
    CACHE = "cache"
    PROMPTS = "prompts"
    AIOP_ANNEX = "aiop_annex"
    USER_OUTPUT = "user_output"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LegacyItem:
    """One path the scan found; a directory item stands for everything below it."""

    rel: PurePosixPath
    kind: ItemKind
    is_dir: bool
    is_symlink: bool
    note: str = ""


@dataclass(frozen=True)
class LegacyCompiled:
    """A top-level `compiled/` or `compiled/<name>/` tree."""

    path: Path
    name: str | None
    manifest: dict[str, Any] | None
    manifest_path: Path | None
    manifest_hash: str | None
    pipeline_id: str | None
    pipeline_slug: str | None
    profile: str | None  # legacy null / "default" read as None
    compiled_at: datetime | None
    paths: tuple[Path, ...]  # what the tree owns (for compiled/ itself: only the tree's files)
    warnings: list[str] = field(default_factory=list)

    def manifest_hash_for(self, profiles: ProfileMap) -> str | None:
        """The contract hash once the legacy profile label maps to its contract profile."""
        return hash_for(self.manifest, self.profile, self.manifest_hash, profiles.contract)


@dataclass(frozen=True)
class LegacyInventory:
    """Everything `scan_legacy` found; every path lies in `containers` or under an item."""

    root: Path
    items: tuple[LegacyItem, ...]
    containers: tuple[PurePosixPath, ...]  # logs/, logs/aiop/, … : listed, not owned
    sessions: tuple[LegacySession, ...]
    aiops: tuple[LegacyAiop, ...]
    aiop_indexes: tuple[LegacyAiopIndex, ...]
    aiop_latest: LegacyLink | None
    last_compile: LegacyPointer | None
    compiled: tuple[LegacyCompiled, ...]
    warnings: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """True when nothing but user outputs was found."""
        return all(item.kind is ItemKind.USER_OUTPUT for item in self.items)

    def items_of(self, kind: ItemKind) -> list[LegacyItem]:
        """The items of one kind, in path order."""
        return [item for item in self.items if item.kind is kind]

    def sessions_by_kind(self) -> dict[SessionKind, list[LegacySession]]:
        """The sessions grouped by kind, each group in path order."""
        grouped: dict[SessionKind, list[LegacySession]] = {}
        for session in self.sessions:
            grouped.setdefault(session.kind, []).append(session)
        return grouped

    def session(self, session_id: str) -> LegacySession | None:
        """The session with this id, if the scan found one."""
        return next((s for s in self.sessions if s.session_id == session_id), None)

    def covers(self, rel: PurePosixPath) -> bool:
        """True when `rel` is a container, an item, or inside a directory item."""
        if rel in self.containers:
            return True
        return any(item.rel == rel or item.rel in rel.parents for item in self.items)


# -- compiled trees -------------------------------------------------------------------------


def _compiled_tree(
    path: Path, name: str | None, owned: tuple[Path, ...], root: Path
) -> LegacyCompiled:
    notes = Notes(root)
    tree = read_tree(path, notes, manifest_required=True)
    profile = first_profile(*profile_sources(tree))
    pipeline_id = text(dig(tree.manifest, ("pipeline", "id")))
    return LegacyCompiled(
        path=path,
        name=name,
        manifest=tree.manifest,
        manifest_path=tree.manifest_path,
        manifest_hash=safe_hash(tree.manifest, profile, notes, tree.manifest_path),
        pipeline_id=pipeline_id,
        pipeline_slug=(manifest_slug(tree.manifest) or None)
        if tree.manifest
        else slug_of(pipeline_id),
        profile=profile,
        compiled_at=parse_moment(tree.meta.get("compiled_at")),
        paths=owned,
        warnings=notes.lines,
    )


# -- AIOP -----------------------------------------------------------------------------------


def _link_text(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _file_in(folder: Path, name: str) -> Path | None:
    path = folder / name
    return path if is_regular_file(path) else None


# -- the scan -------------------------------------------------------------------------------


class _Warned(Protocol):
    """What `_Scan.inventory` gathers warnings from: sessions, AIOPs, indexes, trees."""

    @property
    def warnings(self) -> list[str]: ...


class _Scan:
    """One pass over a project root; builds the inventory's lists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notes = Notes(root)
        self.items: list[LegacyItem] = []
        self.containers: list[PurePosixPath] = []
        self.sessions: list[LegacySession] = []
        self.aiops: list[LegacyAiop] = []
        self.indexes: list[LegacyAiopIndex] = []
        self.latest: LegacyLink | None = None
        self.last_compile: LegacyPointer | None = None
        self.compiled: list[LegacyCompiled] = []

    def rel(self, path: Path) -> PurePosixPath:
        return PurePosixPath(rel_text(path, self.root))

    def item(self, path: Path, kind: ItemKind, note: str = "") -> None:
        st = lstat(path)
        is_link = st is not None and stat.S_ISLNK(st.st_mode)
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        self.items.append(LegacyItem(self.rel(path), kind, is_dir, is_link, note))

    def unknown(self, entry: os.DirEntry[str], note: str) -> None:
        if entry.is_symlink():
            note = "a symlink (never followed)"
        self.item(Path(entry.path), ItemKind.UNKNOWN, note)

    def run(self) -> None:
        tops = {
            layout.CHAT_SESSIONS_DIR: ItemKind.CHAT_SESSIONS,
            layout.CACHE_DIR: ItemKind.CACHE,
            layout.PROMPTS_DIR: ItemKind.PROMPTS,
            layout.AIOP_ANNEX_DIR: ItemKind.AIOP_ANNEX,
        }
        if not is_real_dir(self.root):
            return
        for entry in entries(self.root, self.notes):
            rel = PurePosixPath(entry.name)
            real_dir = entry.is_dir(follow_symlinks=False)
            if rel == layout.LOGS_DIR:
                if real_dir:
                    self.logs(Path(entry.path))
                else:
                    self.unknown(entry, "logs is not a folder")
            elif rel == layout.COMPILED_DIR:
                if real_dir:
                    self.compiled_dir(Path(entry.path))
                else:
                    self.unknown(entry, "compiled is not a folder")
            elif rel in tops:
                self.item(Path(entry.path), tops[rel])
            elif layout.is_user_output(rel):
                self.item(Path(entry.path), ItemKind.USER_OUTPUT)
            # Anything else at the root is the user's project, not legacy output.

    def logs(self, logs: Path) -> None:
        self.containers.append(self.rel(logs))
        sessions = []
        for entry in entries(logs, self.notes):
            path = Path(entry.path)
            if entry.is_symlink():
                self.unknown(entry, "")
                continue
            if entry.is_dir(follow_symlinks=False) and classify_session(entry.name) is not (
                SessionKind.UNKNOWN
            ):
                # Thousands of these: the listing already told what the entry is.
                sessions.append(path)
                self.items.append(LegacyItem(self.rel(path), ItemKind.SESSION, True, False, ""))
                continue
            rel = self.rel(path)
            if rel == layout.LAST_COMPILE and entry.is_file(follow_symlinks=False):
                self.last_compile = read_pointer(path, self.root)
                self.item(path, ItemKind.LAST_COMPILE)
            elif rel == layout.AIOP_DIR and entry.is_dir(follow_symlinks=False):
                self.aiop_dir(path)
            elif layout.is_user_output(rel):
                self.item(path, ItemKind.USER_OUTPUT)
            else:
                self.unknown(entry, "not a session id or a legacy file")
        self.sessions += read_sessions(sessions, self.root)

    def aiop_dir(self, aiop_dir: Path) -> None:
        self.containers.append(self.rel(aiop_dir))
        first: dict[str, Path] = {}
        named: dict[str, dict[str, Path]] = {}
        for entry in entries(aiop_dir, self.notes):
            path = Path(entry.path)
            name = entry.name
            json_name = _SESSION_NAMED_JSON.fullmatch(name)
            card_name = _SESSION_NAMED_CARD.fullmatch(name)
            if name == layout.AIOP_LATEST.name:
                self.latest = LegacyLink(path, _link_text(path) if entry.is_symlink() else None)
                self.item(path, ItemKind.AIOP_LATEST)
            elif entry.is_symlink():
                self.unknown(entry, "")
            elif entry.is_dir(follow_symlinks=False):
                if name == layout.AIOP_INDEX_DIR.name:
                    self.aiop_index(path)
                elif any(
                    lstat(path / n) for n in (layout.AIOP_JSON, layout.RUN_CARD, layout.AIOP_ANNEX)
                ):
                    self.aiops.append(
                        _aiop(
                            AiopVariant.FOLDER,
                            self.root,
                            json_path=_file_in(path, layout.AIOP_JSON),
                            run_card_path=_file_in(path, layout.RUN_CARD),
                            folder=path,
                            named_for=name,
                        )
                    )
                    self.item(path, ItemKind.AIOP)
                else:
                    self.unknown(entry, "a folder without AIOP files")
            elif not entry.is_file(follow_symlinks=False):
                self.unknown(entry, "not a file or folder")
            elif name in (layout.AIOP_JSON, layout.RUN_CARD):
                first[name] = path
            elif json_name:
                named.setdefault(json_name["sid"], {})[layout.AIOP_JSON] = path
            elif card_name:
                named.setdefault(card_name["sid"], {})[layout.RUN_CARD] = path
            else:
                self.unknown(entry, "not an AIOP name")
        groups: list[tuple[AiopVariant, str | None, dict[str, Path]]] = (
            [(AiopVariant.FIRST_RUN, None, first)] if first else []
        )
        groups += [(AiopVariant.SESSION_NAMED, sid, files) for sid, files in sorted(named.items())]
        for variant, named_for, files in groups:
            found = _aiop(
                variant,
                self.root,
                json_path=files.get(layout.AIOP_JSON),
                run_card_path=files.get(layout.RUN_CARD),
                named_for=named_for,
            )
            self.aiops.append(found)
            for path in found.paths:
                self.item(path, ItemKind.AIOP)

    def aiop_index(self, index_dir: Path) -> None:
        self.containers.append(self.rel(index_dir))
        for entry in entries(index_dir, self.notes):
            path = Path(entry.path)
            rel = self.rel(path)
            if rel == layout.AIOP_INDEX and entry.is_file(follow_symlinks=False):
                self.index_file(path, None)
            elif rel == layout.AIOP_BY_PIPELINE_DIR and entry.is_dir(follow_symlinks=False):
                self.containers.append(rel)
                for inner in entries(path, self.notes):
                    by_name = _BY_PIPELINE_FILE.fullmatch(inner.name)
                    if by_name and inner.is_file(follow_symlinks=False):
                        self.index_file(Path(inner.path), by_name["hex"].lower())
                    else:
                        self.unknown(inner, "not a sha256:<hex>.jsonl index")
            else:
                self.unknown(entry, "not an AIOP index")

    def index_file(self, path: Path, pipeline_hash: str | None) -> None:
        notes = Notes(self.root)
        entries = read_jsonl(path, notes)
        self.indexes.append(LegacyAiopIndex(path, pipeline_hash, entries, notes.lines))
        self.item(path, ItemKind.AIOP_INDEX)

    def compiled_dir(self, compiled: Path) -> None:
        self.containers.append(self.rel(compiled))
        listed = entries(compiled, self.notes)
        own = tuple(Path(e.path) for e in listed if e.name in layout.TREE_FILES)
        if own:
            self.compiled.append(_compiled_tree(compiled, None, own, self.root))
            for path in own:
                self.item(path, ItemKind.COMPILED)
        for entry in listed:
            path = Path(entry.path)
            if path in own:
                continue
            if entry.is_dir(follow_symlinks=False) and any(
                lstat(path / name) for name in layout.TREE_FILES
            ):
                self.compiled.append(_compiled_tree(path, entry.name, (path,), self.root))
                self.item(path, ItemKind.COMPILED)
            else:
                self.unknown(entry, "not a compiled tree")

    def inventory(self) -> LegacyInventory:
        chosen = preferred_aiops(self.aiops)
        sessions = tuple(s.with_aiop(chosen.get(s.session_id)) for s in self.sessions)
        warnings = list(self.notes.lines)
        owners: tuple[_Warned, ...] = (*sessions, *self.aiops, *self.indexes, *self.compiled)
        for owner in owners:
            warnings += owner.warnings
        if self.last_compile is not None:
            warnings += self.last_compile.warnings
        return LegacyInventory(
            root=self.root,
            items=tuple(sorted(self.items, key=lambda item: item.rel)),
            containers=tuple(self.containers),
            sessions=sessions,
            aiops=tuple(self.aiops),
            aiop_indexes=tuple(self.indexes),
            aiop_latest=self.latest,
            last_compile=self.last_compile,
            compiled=tuple(self.compiled),
            warnings=tuple(warnings),
        )


def scan_aiops(project_root: Path) -> tuple[list[LegacyAiop], list[str]]:
    """The AIOPs under `logs/aiop/`, read without any session, and problems listing it."""
    scan = _Scan(Path(project_root))
    aiop_dir = scan.root / layout.AIOP_DIR
    if is_real_dir(scan.root / layout.LOGS_DIR) and is_real_dir(aiop_dir):
        scan.aiop_dir(aiop_dir)
    return scan.aiops, scan.notes.lines


def scan_compiled(project_root: Path) -> list[LegacyCompiled]:
    """The top-level `compiled/` and `compiled/<name>/` trees, read without anything else."""
    scan = _Scan(Path(project_root))
    if is_real_dir(scan.root / layout.COMPILED_DIR):
        scan.compiled_dir(scan.root / layout.COMPILED_DIR)
    return scan.compiled


def scan_legacy(project_root: Path) -> LegacyInventory:
    """Everything of the legacy layout in a project; damaged items come back with warnings."""
    scan = _Scan(Path(project_root))
    scan.run()
    return scan.inventory()
