"""The migrator (compat.md §4): the Python API behind `osiris migrate`, for tests and the CLI.

`plan(project)` maps every legacy item to its contract home and writes nothing;
`apply(project, plan)` runs the plan under the project lock and a write-ahead journal;
`rollback`, `status`, `verify` and `finalize` work from that journal.

Each name is imported from its module on first use, so a command loads only what it runs:
`osiris migrate rollback` never imports the planner or the legacy reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osiris.compat.migrate.engine import ApplyResult, apply
    from osiris.compat.migrate.execution import refuse_if_unfinished, unfinished
    from osiris.compat.migrate.finalizing import FinalizeResult, finalize
    from osiris.compat.migrate.planner import plan
    from osiris.compat.migrate.saved_plan import Plan, PlannedItem
    from osiris.compat.migrate.status_report import StatusReport, status
    from osiris.compat.migrate.undo import RollbackResult, rollback
    from osiris.compat.migrate.verification import VerifyReport, verify

_HOMES = {
    "ApplyResult": "engine",
    "apply": "engine",
    "refuse_if_unfinished": "execution",
    "unfinished": "execution",
    "FinalizeResult": "finalizing",
    "finalize": "finalizing",
    "plan": "planner",
    "Plan": "saved_plan",
    "PlannedItem": "saved_plan",
    "StatusReport": "status_report",
    "status": "status_report",
    "RollbackResult": "undo",
    "rollback": "undo",
    "VerifyReport": "verification",
    "verify": "verification",
}
__all__ = [
    "ApplyResult",
    "FinalizeResult",
    "Plan",
    "PlannedItem",
    "RollbackResult",
    "StatusReport",
    "VerifyReport",
    "apply",
    "finalize",
    "plan",
    "refuse_if_unfinished",
    "rollback",
    "status",
    "unfinished",
    "verify",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
