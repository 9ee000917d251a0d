"""Shared CLI plumbing: loading the project, `--json` output, rich consoles."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from osiris.errors import Interrupted

if TYPE_CHECKING:
    from osiris.core.fs_config import ResolvedConfig
    from osiris.core.fs_paths import FilesystemContract

F = TypeVar("F", bound=Callable[..., Any])
PIPED_WIDTH = 200


def json_option(func: F) -> F:
    """The `--json` flag for commands that print data."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        func
    )


def fs_mode_option(func: F) -> F:
    """`--fs-mode` for commands that write (compat.md §1); validated with the configuration."""
    # No click.Choice: the modes are checked with the configuration, which knows its origin.
    return click.option(
        "--fs-mode",
        metavar="MODE",
        default=None,
        help="Layout to write: legacy, dual or contract (beats OSIRIS_FS_CONTRACT, compat.mode).",
    )(func)


def load_project(
    ctx: click.Context, *, flags: Mapping[str, Any] | None = None, strict: bool = False
) -> tuple[ResolvedConfig, FilesystemContract]:
    """Resolve the project for this command: `--project`, else search upward from cwd.

    A base path in osiris.yaml that is missing or outside the project is one warning line;
    with `strict` (commands that judge or move the whole project) it is the error."""
    # Imported here: `<command> --help` should not pay for reading a project.
    from osiris.core.fs_config import load_config
    from osiris.core.fs_paths import FilesystemContract

    app = ctx.find_root().obj
    resolved = load_config(app.project if app else None, flags=flags)
    problem = resolved.base_path_problem()
    if problem is not None:
        if strict:
            raise problem
        warn_once(problem.one_line())
    return resolved, FilesystemContract.from_resolved(resolved)


_warned: set[str] = set()


def warn_once(line: str) -> None:
    """One `warning:` line on stderr, once per process."""
    if line not in _warned:
        _warned.add(line)
        click.echo(f"warning: {line}", err=True)


def emit_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout (paths and other objects as strings)."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def console(*, stderr: bool = False):
    """A rich Console; imported on demand so light commands stay light."""
    from rich.console import Console

    out = Console(stderr=stderr, soft_wrap=True, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        # Piped output has no screen to wrap at: keep every column (rich would assume 80).
        out.width = PIPED_WIDTH
    return out


@contextmanager
def stopped_by_ctrl_c(message: str, hint: str | None = None) -> Iterator[None]:
    """Ctrl-C inside the block ends the command with exit 130 and `message`."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(message, hint=hint) from None
