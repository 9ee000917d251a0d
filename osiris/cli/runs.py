"""`osiris runs list | show`: the runs the index recorded, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from osiris.cli.common import console, emit_json, json_option, load_project

if TYPE_CHECKING:
    from datetime import datetime

    from osiris.cli.tables import ColumnsTable
    from osiris.core.run_index import RunRecord
    from osiris.core.run_sources import ProjectDirs, RunCatalog, RunPath

STATUSES = ("success", "failed", "interrupted", "unknown")
_ERROR_CELL = 40  # characters of a failed run's error in `runs list`; `runs show` has it all
_STATUS_STYLE = {"success": "green", "failed": "red"}


@click.group("runs")
def runs() -> None:
    """List and inspect recorded runs."""


def open_catalog(ctx: click.Context) -> tuple[RunCatalog, ProjectDirs]:
    """The reading catalog with the legacy read fallback, from osiris.yaml read light when
    possible (no pydantic start-up; the full configuration loads only on a legacy hit)."""
    from osiris.compat.fallback import catalog_for, interrupted_migration_notice
    from osiris.core.run_sources import ProjectDirs, light_dirs

    app = ctx.find_root().obj
    dirs = light_dirs(app.project if app else None)
    if dirs is None:
        resolved, contract = load_project(ctx)
        dirs = ProjectDirs.from_contract(contract)
        catalog = catalog_for(dirs, lambda: resolved)
    else:
        catalog = catalog_for(dirs, lambda: load_project(ctx)[0])
    notice = interrupted_migration_notice(dirs)
    if notice is not None:
        warn([notice])
    return catalog, dirs


@runs.command("list")
@click.option("--pipeline", metavar="SLUG", help="Only runs of this pipeline.")
@click.option("--profile", help="Only runs of this profile.")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--tag", help="Only runs carrying this tag.")
@click.option(
    "--since", metavar="SPAN|DATE", help="Only runs started since: 30m, 24h, 7d, 2w or an ISO date."
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="At most this many runs (0: all).",
)
@json_option
@click.pass_context
def list_runs(
    ctx: click.Context,
    pipeline: str | None,
    profile: str | None,
    status: str | None,
    tag: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    from osiris.core.run_sources import RunFilter

    run_filter = RunFilter(
        pipeline=pipeline,
        profile=profile,
        status=status,
        tag=tag,
        since=_since(since),
        limit=limit or None,
    )
    catalog, _ = open_catalog(ctx)
    records = catalog.runs(run_filter)
    warn(catalog.warnings)
    if as_json:
        emit_json([r.to_dict() for r in records])
    elif not records:
        click.echo("No runs found.")
    else:
        out = console()
        out.print(runs_table(records, out.width))


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    from osiris.core.timespec import parse_since

    return parse_since(value)


@runs.command("show")
@click.argument("run_id")
@json_option
@click.pass_context
def show_run(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run (RUN_ID or a unique prefix) and whether its files still exist."""
    catalog, _ = open_catalog(ctx)
    record = catalog.get(run_id)
    paths = catalog.paths(record)
    warn(catalog.warnings)
    if as_json:
        emit_json({**record.to_dict(), "paths": _paths_dict(paths)})
        return
    _render_record(record, paths)


def _paths_dict(paths: dict[str, RunPath]) -> dict[str, Any]:
    return {
        name: {
            "stored": p.stored,
            "path": str(p.path) if p.path else None,
            "exists": p.exists,
            "outside": p.outside,
        }
        for name, p in paths.items()
    }


def _render_record(record: RunRecord, paths: dict[str, RunPath]) -> None:
    from rich.markup import escape

    out = console()
    out.print(f"run [bold]{escape(record.run_id)}[/] {_styled_status(record.status)}")
    rows = [
        ("pipeline", record.pipeline_slug),
        ("profile", record.profile or "-"),
        ("started", format_time(record.started_at)),
        ("finished", format_time(record.finished_at)),
        ("duration", format_duration(record.duration_ms)),
        ("rows", format_rows(record.rows_in, record.rows_out)),
        ("tags", ", ".join(record.tags) or "-"),
        ("manifest hash", record.manifest_hash or "-"),
        ("source", record.source),
        ("fs mode", record.fs_mode or "-"),
        ("user", record.user or "-"),
        ("branch", record.branch or "-"),
        ("git commit", record.git_commit or "-"),
    ]
    if record.error:
        rows.insert(0, ("error", record.error))
    for label, value in rows:
        out.print(f"  {label:<14} {escape(str(value))}")
    labels = {"run_logs": "run logs", "aiop": "aiop", "build_manifest": "manifest"}
    for name, path in paths.items():
        state = "[green]exists[/]" if path.exists else "[red]missing[/]"
        if path.outside:
            state = "[red]outside the project: never read[/]"
        out.print(f"  {labels[name]:<14} {escape(path.stored or '-')} ({state})")


# Columns a narrow terminal drops first, so that run ids never need to be cut.
_OPTIONAL = ("tags", "error", "rows", "duration", "profile", "started", "source")


def runs_table(records: Iterable[RunRecord], width: int) -> ColumnsTable:
    """The runs table, without the optional columns that would not fit in `width`."""
    records = list(records)
    columns = {
        "run id": [r.run_id for r in records],
        "pipeline": [r.pipeline_slug for r in records],
        "profile": [r.profile or "-" for r in records],
        "status": [r.status for r in records],
        **source_column([r.source for r in records]),
        "started": [format_time(r.started_at) for r in records],
        "duration": [format_duration(r.duration_ms) for r in records],
        "rows": [format_rows(r.rows_in, r.rows_out) for r in records],
        "tags": [", ".join(r.tags) for r in records],
        **error_column([r.error for r in records]),
    }
    return columns_table(columns, width, optional=_OPTIONAL)


def error_column(errors: list[str | None]) -> dict[str, list[str]]:
    """An `error` column, only when some run has an error: its start, cut at a word."""
    if not any(errors):
        return {}
    return {"error": [_short(e) if e else "" for e in errors]}


def _short(text: str) -> str:
    if len(text) <= _ERROR_CELL:
        return text
    cut = text[: _ERROR_CELL - 1].rsplit(" ", 1)[0]
    return cut.rstrip(":,") + "…"


def source_column(sources: list[str]) -> dict[str, list[str]]:
    """A `source` column, only when some row is not from the contract layout (e.g. legacy)."""
    return {"source": sources} if any(s != "contract" for s in sources) else {}


def _fit_columns(columns: dict[str, list[str]], width: int, optional: Iterable[str]) -> None:
    """Drop optional columns, in order, until the widest cells of the rest fit in `width`."""
    for name in optional:
        needed = sum(max(map(len, [n, *cells])) + 3 for n, cells in columns.items())
        if needed <= width:
            return
        columns.pop(name, None)


def columns_table(
    columns: dict[str, list[str]],
    width: int,
    *,
    optional: Iterable[str],
    ids: Iterable[str] = ("run id",),
) -> ColumnsTable:
    """A borderless table: optional columns dropped to fit, id columns never cut or wrapped.

    Cells are plain text (no markup to parse or escape); a `status` column is coloured.
    """
    from osiris.cli.tables import ColumnsTable

    _fit_columns(columns, width, optional)
    styles = [[_cell_style(name, cell) for cell in cells] for name, cells in columns.items()]
    return ColumnsTable(list(columns), list(columns.values()), styles, ids=ids)


def _cell_style(column: str, cell: str) -> str:
    if column != "status" or cell == "-":
        return ""
    return _STATUS_STYLE.get(cell, "yellow")


def _styled_status(status: str) -> str:
    style = _STATUS_STYLE.get(status, "yellow")
    return f"[{style}]{status}[/]"


def format_time(value: str | None) -> str:
    """An ISO UTC time as `2025-10-07 14:22:19`; `-` when unknown."""
    from osiris.core.run_index import parse_moment

    moment = parse_moment(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def format_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_rows(rows_in: int | None, rows_out: int | None) -> str:
    if rows_in is None and rows_out is None:
        return "-"
    return f"{'-' if rows_in is None else rows_in} → {'-' if rows_out is None else rows_out}"


def warn(warnings: Iterable[str]) -> None:
    """Print reader warnings (damaged lines, unreadable files) on stderr."""
    warnings = list(warnings)
    if not warnings:
        return
    from rich.markup import escape

    err = console(stderr=True)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
