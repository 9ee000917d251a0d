"""The `osiris` command: a lazy click group and the one place exit codes are decided."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from osiris import __version__
from osiris.errors import (
    EXIT_BAD_INPUT,
    EXIT_BUG,
    EXIT_INTERRUPTED,
    OsirisError,
    environment_error,
)

# name -> (module, attribute, short help). Modules load only when their command runs, so
# `osiris --version` and `--help` stay light (no DuckDB, no pipeline engine).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("osiris.cli.init", "init", "Create an Osiris project with the contract layout."),
    "config": ("osiris.cli.config", "config", "Show or validate the resolved configuration."),
    "repo": ("osiris.cli.repo", "repo", "Git helpers: ignore patterns and local commits."),
    "run": (
        "osiris.cli.run",
        "run",
        "Run a pipeline and record it in run_logs/, aiop/ and the index.",
    ),
    "compile": ("osiris.cli.compile", "compile_command", "Compile an OML pipeline into a build."),
    "runs": ("osiris.cli.runs", "runs", "List and inspect recorded runs."),
    "logs": ("osiris.cli.logs", "logs", "List run-log folders and show or follow a run's logs."),
    "aiop": ("osiris.cli.aiop", "aiop_group", "List, show and export AI observability packs."),
    "pipelines": ("osiris.cli.pipelines", "pipelines", "List pipelines and tag their runs."),
    "maintenance": (
        "osiris.cli.maintenance",
        "maintenance",
        "Retention: remove old run logs and AIOP annexes.",
    ),
    "migrate": ("osiris.cli.migrate", "migrate", "Move a legacy project to the contract layout."),
    "connections": (
        "osiris.cli.connections",
        "connections",
        "List and check the named connections (osiris_connections.yaml).",
    ),
    "components": (
        "osiris.cli.components",
        "components",
        "List the components and show their config keys.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        return getattr(importlib.import_module(module_name), attribute)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # click suggests close names from `self.commands`, which a lazy group leaves empty.
        name = args[0] if args else ""
        if name in COMMANDS or name.startswith("-"):
            return super().resolve_command(ctx, args)
        raise click.exceptions.NoSuchCommand(name, possibilities=list(COMMANDS), ctx=ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class AppContext:
    """Options of the top-level group, shared with every command via `ctx.obj`."""

    def __init__(self, project: Path | None, debug: bool) -> None:
        self.project = project
        self.debug = debug


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="osiris")
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project folder (holding osiris.yaml). Default: search from the current folder up.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, project: Path | None, debug: bool) -> None:
    """Osiris: data pipelines under the Filesystem Contract v1."""
    ctx.obj = AppContext(project=project, debug=debug)


def _print_error(text: str, label: str = "error") -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]{label}:[/] {escape(text)}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map every outcome to an exit code (errors.py)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # A file name that is not UTF-8 (os.fsdecode's surrogates) is printed escaped, never
    # a crash of the command that lists it.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = cli.main(args=args, prog_name="osiris", standalone_mode=False)
    except OsirisError as exc:
        if debug:
            raise
        label = "interrupted" if exc.exit_code == EXIT_INTERRUPTED else "error"
        for line in exc.lines():
            _print_error(line, label)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (and end of input at a prompt) into Abort.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _print_error("stopped by Ctrl-C", "interrupted")
        else:
            click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # The machine's fault (a full disk, a read-only folder) is one line naming the
        # file; anything else is a bug: one line, the traceback only with --debug.
        environment = environment_error(exc) if isinstance(exc, OSError) else None
        if debug:
            raise
        if environment is not None:
            _print_error(environment.one_line())
            sys.exit(environment.exit_code)
        _print_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(EXIT_BUG)
    sys.exit(code if isinstance(code, int) else 0)
