"""`osiris logs list | show`: run-log folders on disk, and one run's log files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from osiris.cli.common import console, emit_json, json_option
from osiris.cli.runs import columns_table, format_time, open_catalog, source_column, warn
from osiris.errors import UsageError

if TYPE_CHECKING:
    from osiris.core.run_sources import RunFolder


@click.group("logs")
def logs() -> None:
    """List run-log folders and show or follow a run's logs."""


@logs.command("list")
@click.option("--pipeline", metavar="SLUG", help="Only folders of this pipeline.")
@click.option("--profile", help="Only folders of this profile.")
@json_option
@click.pass_context
def list_logs(ctx: click.Context, pipeline: str | None, profile: str | None, as_json: bool) -> None:
    """List run-log folders under run_logs/ (and legacy logs/run_*/), newest first."""
    from osiris.core.run_sources import RunFilter

    catalog, dirs = open_catalog(ctx)
    folders = catalog.log_folders(RunFilter(pipeline=pipeline, profile=profile))
    warn(catalog.warnings)
    render_folders(folders, dirs.base_path, as_json, empty="No run-log folders found.")


def render_folders(folders: list[RunFolder], base_path: Path, as_json: bool, *, empty: str) -> None:
    """Print run-log or pack folders as JSON or as a table whose run ids are never cut."""
    if as_json:
        emit_json([f.to_dict(base_path) for f in folders])
        return
    if not folders:
        click.echo(empty)
        return
    out = console()
    rows = [f.to_dict(base_path) for f in folders]
    columns = {
        "run id": [r["run_id"] for r in rows],
        "pipeline": [r["pipeline_slug"] for r in rows],
        "profile": [r["profile"] or "-" for r in rows],
        "status": [r["status"] for r in rows],
        **source_column([r["source"] for r in rows]),
        "started": [format_time(r["started_at"]) for r in rows],
        "indexed": ["yes" if r["indexed"] else "no" for r in rows],
        "path": [r["path"] for r in rows],
    }
    optional = ("path", "profile", "started", "indexed", "source")
    out.print(columns_table(columns, out.width, optional=optional))


@logs.command("show")
@click.argument("run_id")
@click.option(
    "--osiris-log", "which", flag_value="osiris", default=True, help="Show osiris.log (default)."
)
@click.option("--events", "which", flag_value="events", help="Show events.jsonl.")
@click.option("--metrics", "which", flag_value="metrics", help="Show metrics.jsonl.")
@click.option("--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option("--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@json_option
@click.pass_context
def show_logs(
    ctx: click.Context,
    run_id: str,
    which: str,
    tail: int | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Print a run's osiris.log, events or metrics (RUN_ID or a unique prefix)."""
    from osiris.core.log_files import follow_log, read_log
    from osiris.core.run_sources import display_path

    if follow and as_json:
        raise UsageError("--follow prints lines as they come", hint="drop --json or --follow")
    catalog, dirs = open_catalog(ctx)
    view = read_log(catalog.log_folder(run_id), which, tail=tail)
    warn(catalog.warnings)
    if which != "osiris":
        damaged = sum(1 for line in view.lines if not isinstance(_parsed(line), dict))
        if damaged:
            shown = display_path(view.path, dirs.base_path)
            click.echo(f"warning: {shown}: {damaged} damaged line(s), shown as they are", err=True)
    if as_json:
        lines: list[Any] = view.lines if which == "osiris" else [_parsed(x) for x in view.lines]
        emit_json(
            {
                "run_id": view.folder.run_id,
                "path": display_path(view.path, dirs.base_path),
                "lines": lines,
            }
        )
        return
    for line in view.lines:
        click.echo(line)
    if follow:
        for line in follow_log(view):
            click.echo(line)


def _parsed(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line  # a damaged line is shown as it is
