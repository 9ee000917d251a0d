"""Every error Osiris reports to a user, and the exit code it maps to.

Exit codes are decided here and only here: 0 ok, 1 the operation failed,
2 bad input or refused with nothing written, 3 a bug, 130 interrupted.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


# What would break the one line (or hide in it): control characters and the Unicode line
# separators, shown as escapes. A tab stays.
_ESCAPED = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)
    if code != 0x09
}


class OsirisError(Exception):
    """An error with a one-line rendering: `<path>: <key>: <message> (hint: <hint>)`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.key = key
        self.hint = hint

    def one_line(self) -> str:
        parts = [p for p in (self.path, self.key) if p]
        text = ": ".join([*parts, self.message])
        if self.hint:
            text += f" (hint: {self.hint})"
        return text.translate(_ESCAPED)

    def lines(self) -> list[str]:
        """What the CLI prints: one line per problem."""
        return [self.one_line()]

    def __str__(self) -> str:
        return self.one_line()


class ConfigError(OsirisError):
    """osiris.yaml or an environment override is invalid."""


class ProjectNotFound(OsirisError):
    """No osiris.yaml in the folder or any parent."""


class UsageError(OsirisError):
    """Bad command-line input that click itself cannot detect."""


class PipelineError(OsirisError):
    """An OML file is invalid (compile refused)."""


class PipelineProblems(PipelineError):
    """Several problems of one pipeline, reported together (one line each)."""

    def __init__(self, problems: list[PipelineError]) -> None:
        flat = [p for problem in problems for p in getattr(problem, "problems", [problem])]
        first = flat[0]
        super().__init__(first.message, path=first.path, key=first.key, hint=first.hint)
        self.problems = flat

    def lines(self) -> list[str]:
        return [problem.one_line() for problem in self.problems]


class ConfigProblems(ConfigError):
    """Several problems of osiris.yaml, reported together (one line each)."""

    def __init__(self, problems: list[ConfigError]) -> None:
        first = problems[0]
        super().__init__(first.message, path=first.path, key=first.key, hint=first.hint)
        self.problems = problems

    def lines(self) -> list[str]:
        return [problem.one_line() for problem in self.problems]


class NotFound(OsirisError):
    """A run, build or pointer the user named does not exist."""


class LockBusy(OsirisError):
    """Another Osiris process holds the project lock."""


class OperationFailed(OsirisError):
    """The operation ran and failed (e.g. a pipeline step failed)."""

    exit_code = EXIT_FAILED


class Interrupted(OsirisError):
    """Ctrl-C stopped the command after it recorded where it stopped."""

    exit_code = EXIT_INTERRUPTED


class PlanConflict(OsirisError):
    """A migration plan has conflicts (a destination exists, two items to one place, …)."""


class StalePlan(OsirisError):
    """A saved migration plan no longer matches the project tree."""


class UnfinishedMigration(OsirisError):
    """An interrupted migration or rollback must be resumed or undone first."""


class RollbackRefused(OsirisError):
    """A rollback would lose changes made after the migration."""


class MigrationIncomplete(OperationFailed):
    """A migration or rollback stopped part-way; its journal says how to go on."""


class VerificationFailed(OperationFailed):
    """A migrated tree differs from the inventory recorded when it was moved."""


# errno -> (what it means, exit code, the fix): the environment's fault, never a bug.
_ENVIRONMENT = {
    errno.ENOSPC: ("no space left on the device", EXIT_FAILED, "free some space, then try again"),
    errno.EDQUOT: ("the disk quota is exhausted", EXIT_FAILED, "free some space, then try again"),
    errno.EIO: ("an input/output error (a failing disk?)", EXIT_FAILED, "check the disk"),
    errno.EFBIG: (
        "the file would grow past the size limit (ulimit -f)",
        EXIT_FAILED,
        "raise the limit or free space, then try again",
    ),
    errno.EROFS: (
        "the file system is read-only",
        EXIT_BAD_INPUT,
        "run from a writable copy of the project",
    ),
    errno.EACCES: ("permission denied", EXIT_BAD_INPUT, "fix the folder's permissions"),
    errno.EPERM: ("operation not permitted", EXIT_BAD_INPUT, "fix the folder's permissions"),
}


def environment_error(exc: OSError) -> OsirisError | None:
    """The one-line error of an OSError the machine caused (full disk, read-only folder,
    permissions), naming the file; None for any other OSError (a bug of ours)."""
    known = _ENVIRONMENT.get(exc.errno or 0)
    if known is None:
        return None
    message, code, hint = known
    path = exc.filename
    if code == EXIT_BAD_INPUT and isinstance(path, str) and not os.path.lexists(path):
        # A file that could not be created (often our own temp file): the folder is the issue.
        path, message = os.path.dirname(path), f"this folder cannot be written: {message}"
    error = OsirisError(message, path=path, hint=hint)
    error.exit_code = code
    return error
