"""The migrator (compat.md §4): the Python API behind `osiris migrate`, for tests and the CLI.

`plan(project)` maps every legacy item to its contract home and writes nothing;
`apply(project, plan)` runs the plan under the project lock and a write-ahead journal;
`rollback`, `status`, `verify` and `finalize` work from that journal.
"""

from osiris.compat.migrate.engine import ApplyResult, apply, refuse_if_unfinished, unfinished
from osiris.compat.migrate.finalizing import FinalizeResult, finalize
from osiris.compat.migrate.plan import plan
from osiris.compat.migrate.saved_plan import Plan, PlannedItem
from osiris.compat.migrate.status import StatusReport, status
from osiris.compat.migrate.undo import RollbackResult, rollback
from osiris.compat.migrate.verify import VerifyReport, verify

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
