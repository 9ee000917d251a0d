"""The pointers of a legacy tree: `logs/.last_compile.json` and a compile session's
`.last.json`, each naming the manifest of a compile, read without ever raising."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from osiris.compat import legacy_layout as layout
from osiris.compat.legacy_files import Notes, lstat, read_json, resolve_stored, text


@dataclass(frozen=True)
class LegacyPointer:
    """`logs/.last_compile.json` or a compile session's `.last.json`."""

    path: Path
    session_id: str | None
    manifest_path: str | None
    compiled_dir: str | None
    generated_at: str | None
    target: Path | None  # the manifest it names, when that file exists in this project
    warnings: list[str] = field(default_factory=list)


def _read_pointer(path: Path, root: Path) -> LegacyPointer:
    notes = Notes(root)
    data = read_json(path, notes) or {}
    stored = text(data.get("manifest_path"))
    target = resolve_stored(root, stored) if stored else None
    if data and stored is None:
        notes.add(path, "names no manifest_path")
    elif stored and target is None:
        notes.add(path, f"names {stored}, which is not a file in this project")
    return LegacyPointer(
        path=path,
        session_id=text(data.get("session_id")),
        manifest_path=stored,
        compiled_dir=text(data.get("compiled_dir")),
        generated_at=text(data.get("generated_at")),
        target=target,
        warnings=notes.lines,
    )


def read_pointer(path: Path, project_root: Path) -> LegacyPointer | None:
    """A legacy pointer file, or None when there is none at `path`."""
    if lstat(path) is None:
        return None
    return _read_pointer(Path(path), Path(project_root))


def read_last_compile(project_root: Path) -> Path | None:
    """The manifest `logs/.last_compile.json` names, when both exist in this project."""
    pointer = read_pointer(Path(project_root) / layout.LAST_COMPILE, project_root)
    return pointer.target if pointer else None
