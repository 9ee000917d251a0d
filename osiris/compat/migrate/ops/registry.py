"""The one registry of step kinds: a step back from its JSON, and what any steps touch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from osiris.compat.migrate.ops.base import Op, Step
from osiris.compat.migrate.ops.files import (
    DeleteFile,
    MakeDirs,
    RemoveDirs,
    WriteFile,
    WritePointer,
)
from osiris.compat.migrate.ops.index import AppendIndex, TruncateIndex
from osiris.compat.migrate.ops.moves import MoveFile, MoveTree

OP_TYPES: dict[str, type[Op]] = {
    cls.name: cls
    for cls in (
        MoveTree,
        MoveFile,
        MakeDirs,
        RemoveDirs,
        WriteFile,
        DeleteFile,
        WritePointer,
        AppendIndex,
        TruncateIndex,
    )
}


def op_from_json(data: Mapping[str, Any]) -> Op:
    """The step a `to_json` object describes."""
    kind = OP_TYPES.get(data.get("op", ""))
    if kind is None:
        raise ValueError(f"unknown migration step {data.get('op')!r}")
    return kind.from_json(data)  # type: ignore[attr-defined]


def ops_touched(ops: Iterable[Step]) -> set[str]:
    """Every folder the given steps change entries of (project-relative)."""
    found: set[str] = set()
    for op in ops:
        found |= op.touched()
    return found
