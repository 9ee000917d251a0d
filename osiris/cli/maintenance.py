"""`osiris maintenance clean`: retention of run logs and AIOP annexes (contract.md §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from osiris.cli.common import (
    console,
    emit_json,
    json_option,
    load_project,
    stopped_by_ctrl_c,
)
from osiris.cli.progress import progress_bar
from osiris.errors import EXIT_FAILED

if TYPE_CHECKING:
    from osiris.core.retention import CleanReport


@click.group("maintenance")
def maintenance() -> None:
    """Retention: remove old run logs and AIOP annexes."""


@maintenance.command("clean")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option(
    "--logs-days",
    type=click.IntRange(min=0),
    metavar="N",
    help="Remove run logs of runs finished more than N days ago (0: every finished run).",
)
@click.option(
    "--keep-runs",
    type=click.IntRange(min=0),
    metavar="N",
    help="Keep AIOP annexes of the newest N runs per pipeline/profile (0: all).",
)
@click.option(
    "--annex-days",
    type=click.IntRange(min=0),
    metavar="N",
    help="Remove AIOP annexes of runs finished more than N days ago (0: every finished run).",
)
@click.option("--trash", is_flag=True, help="Send folders to the OS trash instead of deleting.")
@json_option
@click.pass_context
def clean(
    ctx: click.Context,
    dry_run: bool,
    logs_days: int | None,
    keep_runs: int | None,
    annex_days: int | None,
    trash: bool,
    as_json: bool,
) -> None:
    """Remove old run logs and AIOP annexes; defaults come from filesystem.retention."""
    from osiris.core import retention

    _, contract = load_project(ctx)
    policy = retention.RetentionPolicy.from_contract(
        contract, run_logs_days=logs_days, aiop_keep_runs=keep_runs, annex_days=annex_days
    )
    stopped = stopped_by_ctrl_c(
        "maintenance clean stopped by Ctrl-C; a folder it was removing is hidden from every "
        "listing",
        hint="run `osiris maintenance clean` again to finish it",
    )
    with (
        progress_bar("removing", enabled=not as_json and not dry_run, transient=True) as progress,
        stopped,
    ):
        report = retention.clean(contract, policy, dry_run=dry_run, trash=trash, progress=progress)
    if as_json:
        emit_json(report.to_dict())
    else:
        _render(report)
    if report.errors:
        ctx.exit(EXIT_FAILED)


def _render(report: CleanReport) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    out = console()
    plan = report.plan
    if plan.grace_until is not None:
        out.print(
            f"Kept {len(plan.migrated_kept)} migrated run(s) until {plan.grace_until:%Y-%m-%d} "
            "(filesystem.retention.migrated_grace_days)."
        )
    if not plan.actions:
        out.print("Nothing to clean.")
        return
    shown = plan.actions if report.dry_run else report.removed
    rows = [
        (
            action.to_dict(plan.base_path)["path"] + (" (link)" if action.is_link else ""),
            action.kind,
            _size(action.size),
            action.reason,
        )
        for action in shown
    ]
    widest = max(len(path) for path, *_ in rows)
    if widest + 40 > out.width:
        # A path is never cut: too wide for a table, each gets its own line.
        for path, kind, size, reason in rows:
            out.print(path, markup=False, overflow="ignore", crop=False)
            out.print(f"    {kind}  {size}  {reason}", markup=False)
    else:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("path", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("size", no_wrap=True, justify="right")
        table.add_column("reason")
        for path, kind, size, reason in rows:
            table.add_row(escape(path), kind, size, escape(reason))
        out.print(table)
    if report.dry_run:
        count = _paths(len(plan.actions))
        out.print(f"Dry run: removing {count} would free {_size(plan.total_bytes)}.")
    else:
        where = " (to the OS trash)" if report.trash else ""
        count = _paths(len(report.removed))
        out.print(f"Removed {count}{where}, freed {_size(report.bytes_freed)}.")
    err = console(stderr=True)
    for error in report.errors:
        err.print(f"[red]error:[/] {escape(error)}")


def _paths(count: int) -> str:
    return f"{count} path" if count == 1 else f"{count} paths"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
