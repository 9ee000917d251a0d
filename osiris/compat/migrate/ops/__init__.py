"""Migration steps as data (compat.md §4): each checks, applies and undoes itself.

Every path is project-relative; a step never follows a symlink and never writes outside the
project root or through a linked folder.

`base` holds what every step shares, `moves`, `files` and `index` the kinds of step, and
`registry` the one table that turns a step's JSON back into it; all are re-exported here.
"""

from osiris.compat.migrate.ops.base import (
    LEGACY_ARCHIVE,
    NEVER_OVERWRITES,
    NOT_NAMES,
    Details,
    DirTime,
    Op,
    Problem,
    Step,
    StepRefused,
    _outside,
    parent_text,
    relocate,
    set_aside,
    times_from_json,
    unsafe,
    usable_path,
)
from osiris.compat.migrate.ops.files import (
    DeleteFile,
    MakeDirs,
    RemoveDirs,
    WriteFile,
    WritePointer,
)
from osiris.compat.migrate.ops.index import (
    AppendIndex,
    IndexFile,
    TruncateIndex,
    prefix_sha256,
    remove_block,
    restore_prior,
)
from osiris.compat.migrate.ops.moves import MoveFile, MoveTree
from osiris.compat.migrate.ops.registry import OP_TYPES, op_from_json, ops_touched

__all__ = [
    "LEGACY_ARCHIVE",
    "NEVER_OVERWRITES",
    "NOT_NAMES",
    "OP_TYPES",
    "AppendIndex",
    "DeleteFile",
    "Details",
    "DirTime",
    "IndexFile",
    "MakeDirs",
    "MoveFile",
    "MoveTree",
    "Op",
    "Problem",
    "RemoveDirs",
    "Step",
    "StepRefused",
    "TruncateIndex",
    "WriteFile",
    "WritePointer",
    "_outside",
    "op_from_json",
    "ops_touched",
    "parent_text",
    "prefix_sha256",
    "relocate",
    "remove_block",
    "restore_prior",
    "set_aside",
    "times_from_json",
    "unsafe",
    "usable_path",
]
