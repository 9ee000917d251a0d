"""The manifest hash (contract.md §5), computed here and nowhere else."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from osiris.core.fsio import canonical_json

# Fields that are the hash itself or change with the wall clock or the compiling session,
# so they must not feed the hash (legacy manifests carry all of these: legacy-layout.md §3).
_EXCLUDED: tuple[tuple[str, ...], ...] = (
    ("meta", "manifest_hash"),
    ("meta", "manifest_short"),
    ("meta", "generated_at"),
    ("meta", "compiled_at"),
    ("meta", "run_id"),
    ("pipeline", "fingerprints", "manifest_fp"),
    ("metadata", "source_manifest_path"),
    ("generated_at",),
    ("compiled_at",),
)


def hashable_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without its own hash fields, timestamps and session ids."""
    stripped = copy.deepcopy(manifest)
    for path in _EXCLUDED:
        node: Any = stripped
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return stripped


def manifest_hash(manifest: dict[str, Any], profile: str | None) -> str:
    """Lower-case hex sha256 of canonical JSON of `{"manifest": ..., "profile": ...}`."""
    payload = {"manifest": hashable_manifest(manifest), "profile": profile or ""}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
