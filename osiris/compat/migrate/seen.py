"""What a plan looked at, so that `apply` can tell with one stat per path that nothing changed.

A plan's fingerprint is the digest of its steps; recomputing it means planning again, which
reads every session's events and manifest. Instead the planner records what it saw besides
the moved items' own inventories: the configuration, the listing of each folder the scan
listed (the project root: its legacy entries only), and every path it looked up, present
or absent. When all of that, every moved item's inventory and every step's check are as
planned, planning again would give the same steps; any difference sends `apply` back to a
full plan, which decides by fingerprint (compat.md §4: a saved plan whose tree changed since
is refused).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from osiris.compat import legacy_layout as layout
from osiris.compat.migrate import inventory
from osiris.compat.migrate.inventory import Entry
from osiris.compat.migrate.ops import Op
from osiris.core.fsio import canonical_json, name_bytes

if TYPE_CHECKING:
    from osiris.core.config_model import OsirisConfig

ROOT = "."
# legacy-layout.md §1: the names at the project root the scan reads (user outputs included).
_ROOT_NAMES = frozenset(
    str(p)
    for p in (
        layout.LOGS_DIR,
        layout.COMPILED_DIR,
        layout.CHAT_SESSIONS_DIR,
        layout.CACHE_DIR,
        layout.PROMPTS_DIR,
        layout.AIOP_ANNEX_DIR,
        *layout.USER_OUTPUT_DIRS,
    )
)


def config_digest(config: OsirisConfig) -> str:
    """The sha256 of a configuration (every key can change where items go)."""
    return hashlib.sha256(canonical_json(asdict(config)).encode()).hexdigest()


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "l"
    if entry.is_dir(follow_symlinks=False):
        return "d"
    return "f" if entry.is_file(follow_symlinks=False) else "o"


def listing_digest(root: Path, rel: str) -> str | None:
    """The sha256 of a folder's entry names and kinds (at the root: legacy names only)."""
    folder = root if rel == ROOT else root / rel
    try:
        with os.scandir(folder) as listing:
            names = sorted(
                f"{_kind(e)}{e.name}"
                for e in listing
                if rel != ROOT
                or e.name in _ROOT_NAMES
                or layout.is_user_output(PurePosixPath(e.name))
            )
    except (FileNotFoundError, NotADirectoryError):
        return None
    return hashlib.sha256(name_bytes("\n".join(names))).hexdigest()


@dataclass(frozen=True)
class Seen:
    """The configuration digest, folder listings and looked-up paths a plan was made from."""

    config: str
    listings: tuple[tuple[str, str | None], ...]
    paths: tuple[tuple[str, Entry | None], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "listings": [list(row) for row in self.listings],
            "paths": [[rel, *(e.to_json()[1:] if e else [])] for rel, e in self.paths],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Seen:
        paths = tuple(
            (row[0], Entry(inventory.TOP, *row[1:]) if len(row) > 1 else None)
            for row in data["paths"]
        )
        listings = tuple((rel, digest) for rel, digest in data["listings"])
        return cls(data["config"], listings, paths)


class Recorder:
    """Looks paths up for the planner and remembers what it found."""

    def __init__(self, root: Path, config: OsirisConfig) -> None:
        self.root = root
        self.config = config_digest(config)
        self.listings: dict[str, str | None] = {}
        self.paths: dict[str, Entry | None] = {}

    def entry(self, path: Path) -> Entry | None:
        """`inventory.entry_of`, remembered."""
        return self.at(path.relative_to(self.root).as_posix())

    def at(self, rel: str) -> Entry | None:
        """`entry` of the path `rel` (posix, relative to the root), remembered."""
        if rel not in self.paths:
            self.paths[rel] = inventory.entry_of(f"{self.root}/{rel}")
        return self.paths[rel]

    def listed(self, rel: str) -> None:
        """Remember a folder's listing (`.`: the project root's legacy entries)."""
        self.listings.setdefault(rel, listing_digest(self.root, rel))

    def seen(self) -> Seen:
        return Seen(self.config, tuple(self.listings.items()), tuple(self.paths.items()))


def unchanged(root: Path, config: OsirisConfig, seen: Seen, ops: Iterable[Op]) -> bool:
    """True when planning `root` again would give the same steps; False: plan again to know."""
    if config_digest(config) != seen.config:
        return False
    if any(listing_digest(root, rel) != digest for rel, digest in seen.listings):
        return False
    with inventory.remembered():
        if any(inventory.entry_of(root / rel) != entry for rel, entry in seen.paths):
            return False
        return all(op.unchanged(root) for op in ops)
