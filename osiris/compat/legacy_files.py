"""Reading the files of a legacy tree without ever raising: the helpers the legacy readers share.

Damage never raises: a truncated line, a missing or unreadable file, or a file of the wrong
shape is skipped with a note naming its project-relative path. Symlinks are never followed:
every directory is listed with `os.scandir` and every file checked with `os.lstat` first.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import yaml

from osiris.compat import legacy_layout as layout
from osiris.core import yaml_load
from osiris.core.fs_paths import slugify
from osiris.core.manifest_hash import manifest_hash
from osiris.core.run_folders import is_real_dir as is_real_dir
from osiris.core.run_folders import is_regular_file as is_regular_file


class Notes:
    """Collects warnings as `<project-relative path>: <message>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines: list[str] = []

    def add(self, path: Path | str, message: str) -> None:
        self.lines.append(f"{rel_text(path, self.root)}: {message}")


def rel_text(path: Path | str, root: Path) -> str:
    if os.sep == "/":
        # The common case, a normalised path below the root, needs no pathlib arithmetic.
        text, base = os.fspath(path), os.fspath(root).rstrip("/")
        if text.startswith(base + "/") and not _UNNORMAL.search(text):
            return text[len(base) + 1 :]
    try:
        return PurePosixPath(Path(path).relative_to(root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


_UNNORMAL = re.compile(r"//|/\.\.?(/|$)")


def lstat(path: Path | str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


# What `kinds_in` found at a name: a regular file, a real folder, a link, anything else.
FILE, DIR, LINK, OTHER = "f", "d", "l", "o"
# `read_bytes(kind=LOOK)`: the caller did not list the folder, so the file is looked at.
LOOK = "?"


def kinds_in(folder: str) -> dict[str, str] | None:
    """What each entry of `folder` is, from one `scandir` (Linux gives the types with the
    names: no stat per entry); None when the folder cannot be listed."""
    try:
        with os.scandir(folder) as listing:
            return {entry.name: entry_kind(entry) for entry in listing}
    except OSError:
        return None


def entry_kind(entry: os.DirEntry[str]) -> str:
    """What a listed entry is (a link as a link), from the listing's types."""
    if entry.is_symlink():
        return LINK
    if entry.is_file(follow_symlinks=False):
        return FILE
    return DIR if entry.is_dir(follow_symlinks=False) else OTHER


def kind_of(path: Path | str) -> str | None:
    """What is at `path` (not followed if a link), None when nothing is."""
    st = lstat(path)
    if st is None:
        return None
    if stat.S_ISREG(st.st_mode):
        return FILE
    if stat.S_ISDIR(st.st_mode):
        return DIR
    return LINK if stat.S_ISLNK(st.st_mode) else OTHER


def entries(path: Path, notes: Notes) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        notes.add(path, f"cannot list the folder ({exc.strerror or exc})")
        return []


class FileRead(NamedTuple):
    """A file as the reader read it: the stat of the open file and the sha256 of its bytes."""

    size: int
    mtime_ns: int
    mode: int
    sha256: str


_reads: ContextVar[dict[str, FileRead] | None] = ContextVar("reads", default=None)


@contextmanager
def recording_reads() -> Iterator[dict[str, FileRead]]:
    """Within the block, every file `read_bytes` reads is recorded by its path: what the
    migration planner needs to know of the files it derived records from, without opening
    them again."""
    found: dict[str, FileRead] = {}
    token = _reads.set(found)
    try:
        yield found
    finally:
        _reads.reset(token)


def recorded() -> dict[str, FileRead] | None:
    """The reads of the `recording_reads` block under way (None: none is)."""
    return _reads.get()


class ReadsBelow:
    """The files read under a folder (project-relative, at any depth), each by its path
    inside the folder, in path order: one sorted list, searched per folder asked about."""

    def __init__(self, root: Path | str, reads: Mapping[str, FileRead]) -> None:
        base = f"{root}/"
        self._reads = {
            path[len(base) :]: read for path, read in reads.items() if path.startswith(base)
        }
        self._paths = sorted(self._reads)

    def under(self, folder: str) -> list[tuple[str, FileRead]]:
        prefix = f"{folder}/"
        paths = self._paths
        index = bisect.bisect_left(paths, prefix)
        found = []
        while index < len(paths) and paths[index].startswith(prefix):
            found.append((paths[index][len(prefix) :], self._reads[paths[index]]))
            index += 1
        return found


def read_bytes(
    path: Path | str, notes: Notes, *, required: bool, kind: str | None = LOOK
) -> bytes | None:
    """The bytes of a regular file. `kind`: what a listing of its folder found there (None:
    nothing), else it is looked at first: a link is never followed."""
    # Known, then open and fstat: `os.open` with O_NOFOLLOW would save the look, but
    # pyfakefs (the tests' filesystem) rewrites the mode of a file opened with `os.open`.
    if kind == LOOK:
        kind = kind_of(path)
    if kind is None:
        if required:
            notes.add(path, "missing")
        return None
    if kind != FILE:
        notes.add(path, "not a regular file (symlinks are never followed); ignored")
        return None
    try:
        data, st = _read_whole(path)
    except OSError as exc:
        notes.add(path, f"cannot read ({exc.strerror or exc})")
        return None
    reads = _reads.get()
    if reads is not None:
        digest = hashlib.sha256(data).hexdigest()
        read = FileRead(st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), digest)
        reads[os.fspath(path)] = read
    return data


def _read_whole(path: Path | str) -> tuple[bytes, os.stat_result]:
    """A file's bytes and its stat once read (should it have changed meanwhile), unbuffered:
    read whole, a buffer would only copy them (a quarter of the cost, for thousands)."""
    # Not `os.open`: pyfakefs (the tests' filesystem) rewrites the mode of a file opened so.
    with open(path, "rb", buffering=0) as handle:
        return handle.read(), os.fstat(handle.fileno())


INVALID = object()


def parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return INVALID


def read_jsonl(
    path: Path | str, notes: Notes, *, required: bool = True, kind: str | None = LOOK
) -> list[dict[str, Any]]:
    data = read_bytes(path, notes, required=required, kind=kind)
    if data is None:
        return []
    whole = _all_objects(data)
    if whole is not None:
        return whole
    # Some line is damaged: line by line, so each note names its line exactly.
    lines = data.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        value = parse_json(line)
        if isinstance(value, dict):
            records.append(value)
        elif value is INVALID and number == last and not data.endswith(b"\n"):
            notes.add(path, f"skipped a truncated last line {number + 1}")
        else:
            notes.add(path, f"skipped a damaged line {number + 1}")
    return records


# `}`, a comma and `{` within one line (JSON whitespace but a line break between them).
_OBJECTS_IN_A_LINE = re.compile(rb"\}[ \t\r]*,[ \t\r]*\{")


def _all_objects(data: bytes) -> list[dict[str, Any]] | None:
    """Every line of a JSONL text parsed in one `json.loads` (one call instead of one per
    line); None unless every non-blank line is a JSON object."""
    body = data.strip()
    if not body:
        return []
    if _OBJECTS_IN_A_LINE.search(body):
        # A line holding two objects could make up for two lines read as one (a string
        # spanning the joint): only line by line is exact then.
        return None
    count = body.count(b"\n") + 1
    # Each line must look like a whole object, so no damaged line can pair up with its
    # neighbour into valid JSON; the count check catches anything else. The common file
    # (no blank line, no spaces around a line) is checked without a loop: each of its
    # line breaks is `}\n{` exactly when every line starts with `{` and ends with `}`.
    if body[:1] == b"{" and body[-1:] == b"}" and body.count(b"}\n{") == count - 1:
        joined = body.replace(b"\n", b",")
    else:
        lines = [line.strip() for line in body.split(b"\n")]
        lines = [line for line in lines if line]
        if not all(line[:1] == b"{" and line[-1:] == b"}" for line in lines):
            return None
        count = len(lines)
        joined = b",".join(lines)
    value = parse_json(b"[" + joined + b"]")
    if not isinstance(value, list) or len(value) != count:
        return None
    return value if all(map(isinstance, value, repeat(dict))) else None


def read_json(
    path: Path | str, notes: Notes, *, required: bool = True, kind: str | None = LOOK
) -> dict[str, Any] | None:
    data = read_bytes(path, notes, required=required, kind=kind)
    if data is None:
        return None
    value = parse_json(data)
    if value is INVALID:
        notes.add(path, "not valid JSON; ignored")
        return None
    if not isinstance(value, dict):
        notes.add(path, "not a JSON object; ignored")
        return None
    return value


class _ManifestLoader(yaml_load.FAST_SAFE_LOADER):  # type: ignore[misc,name-defined]
    """Safe YAML that keeps timestamps as strings, so every manifest is JSON-hashable."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# Thousands of run sessions share a handful of manifests (each run keeps a copy of its
# compile's): each distinct text is parsed, and hashed per profile, once per process.
# The parsed manifests are shared, so nothing may change them.
_PARSED: dict[bytes, tuple[dict[str, Any] | None, str | None]] = {}
_SHARED: dict[int, dict[str, Any]] = {}  # id -> a parsed manifest (kept alive here)
_HASHED: dict[tuple[int, str | None], str] = {}


def read_manifest(
    path: Path | str, notes: Notes, *, required: bool, kind: str | None = LOOK
) -> dict[str, Any] | None:
    """A manifest file parsed (None, with a note, when it is not a YAML mapping); the
    result is shared with every file of the same bytes and must not be changed."""
    data = read_bytes(path, notes, required=required, kind=kind)
    if data is None:
        return None
    if data not in _PARSED:
        _PARSED[data] = _parse_manifest(data)
        shared = _PARSED[data][0]
        if shared is not None:
            _SHARED[id(shared)] = shared
    value, problem = _PARSED[data]
    if problem is not None:
        notes.add(path, problem)
    return value


def shared_manifests(manifests: Iterable[dict[str, Any] | None]) -> list[bool]:
    """Which of these manifests `read_manifest` shares (their hashes are kept)."""
    return [m is not None and _SHARED.get(id(m)) is m for m in manifests]


def share_manifests(manifests: Iterable[dict[str, Any] | None]) -> None:
    """Share manifests read by another process (`session_reads`): their hashes are kept."""
    for manifest in manifests:
        if manifest is not None:
            _SHARED[id(manifest)] = manifest


def _parse_manifest(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = yaml_load.load(data.decode("utf-8"), _ManifestLoader)
    except yaml_load.YamlRefused as exc:
        return None, f"refused: the file {exc}; ignored"
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None, "not valid YAML; ignored"
    if not isinstance(value, dict):
        return None, "not a YAML mapping; ignored"
    return value, None


def dig(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def normal_profile(value: Any) -> str | None:
    # legacy-layout.md §3: a legacy profile may be null or the literal "default".
    if not isinstance(value, str) or value.strip() in ("", "default"):
        return None
    return value.strip()


def first_profile(*candidates: Any) -> str | None:
    return normal_profile(next((value for value in candidates if value is not None), None))


def as_compiled(manifest: dict[str, Any]) -> dict[str, Any]:
    # legacy-layout.md §2: a run's manifest.yaml is the compiled manifest plus
    # metadata.source_manifest_path. The hash helper drops that key; dropping the
    # `metadata` it alone made up keeps a run's hash equal to its compile's.
    metadata = manifest.get("metadata")
    if isinstance(metadata, dict) and set(metadata) == {"source_manifest_path"}:
        return {key: value for key, value in manifest.items() if key != "metadata"}
    return manifest


def safe_hash(
    manifest: dict[str, Any] | None, profile: str | None, notes: Notes | None, path: Path | None
) -> str | None:
    if manifest is None:
        return None
    shared = _SHARED.get(id(manifest)) is manifest
    key = (id(manifest), profile)
    if shared and key in _HASHED:
        return _HASHED[key]
    try:
        digest = manifest_hash(as_compiled(manifest), profile)
        if shared:
            _HASHED[key] = digest
        return digest
    except (TypeError, ValueError, RecursionError):
        if notes is not None and path is not None:
            notes.add(path, "holds values that cannot be hashed; no manifest hash")
        return None


def hash_for(
    manifest: dict[str, Any] | None,
    label: str | None,
    own_hash: str | None,
    contract_profile: Callable[[str | None], str | None],
) -> str | None:
    """The contract hash of a legacy manifest once its profile `label` is mapped."""
    profile = contract_profile(label)
    if profile == label:
        return own_hash
    return safe_hash(manifest, profile, None, None)


def file_inside(root: Path, stored: str) -> Path | None:
    """The regular file `stored` names inside `root`, reached without crossing a symlink."""
    parts = PurePosixPath(stored.replace("\\", "/")).parts
    if not parts or ".." in parts:
        return None
    path = root
    for index, part in enumerate(parts):
        path = path / part
        last = index == len(parts) - 1
        if not (is_regular_file(path) if last else is_real_dir(path)):
            return None
    return path


def resolve_stored(root: Path, stored: str) -> Path | None:
    normalized = stored.replace("\\", "/")
    if not normalized.startswith("/") and not re.match(r"[A-Za-z]:/", normalized):
        return file_inside(root, normalized)
    # An absolute path written before the project moved: keep its part from `logs/` on.
    parts = normalized.split("/")
    logs = str(layout.LOGS_DIR)
    for index, part in enumerate(parts):
        if part == logs:
            found = file_inside(root, "/".join(parts[index:]))
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class Tree:
    manifest: dict[str, Any] | None
    manifest_path: Path | None
    meta: dict[str, Any]
    effective: dict[str, Any]


def read_tree(tree: Path, notes: Notes, *, manifest_required: bool) -> Tree:
    manifest_file = tree / layout.TREE_MANIFEST
    manifest = read_manifest(manifest_file, notes, required=manifest_required)
    meta = read_json(tree / layout.TREE_META, notes, required=False) or {}
    effective = read_json(tree / layout.TREE_EFFECTIVE_CONFIG, notes, required=False) or {}
    return Tree(manifest, manifest_file if manifest is not None else None, meta, effective)


def manifest_profile(manifest: dict[str, Any] | None) -> Any:
    """The profile a manifest names, as written (None: it names none)."""
    named = dig(manifest, ("meta", "profile"))
    return named if named is not None else dig(manifest, ("pipeline", "fingerprints", "profile"))


def profile_sources(tree: Tree) -> tuple[Any, ...]:
    """Where a tree's profile is written, first the manifest, then the tree's meta.json and
    effective_config.json (`first_profile` takes the first that names one)."""
    return (
        manifest_profile(tree.manifest),
        tree.meta.get("profile"),
        tree.effective.get("profile"),
    )


def slug_of(pipeline_id: str | None) -> str | None:
    return (slugify(pipeline_id) or None) if pipeline_id else None
