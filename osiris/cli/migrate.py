"""`osiris migrate plan | apply | rollback | status | verify | finalize` (compat.md §4)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from osiris.cli.common import console, emit_json, json_option, load_project
from osiris.cli.progress import progress_bar
from osiris.errors import EXIT_FAILED, Interrupted, UsageError, VerificationFailed

if TYPE_CHECKING:
    from osiris.compat.migrate import Plan, StatusReport
    from osiris.core.fs_paths import FilesystemContract
    from osiris.core.project_dirs import ProjectHome

_KIND_NAMES = {
    "run": "run sessions",
    "build": "compiled trees",
    "aiop": "AIOP files",
    "chat_sessions": "chat sessions",
    "cache": "discovery cache",
    "pointer": "latest pointers",
    "index": "index records",
    "archive": "archived verbatim",
}
_LISTED = 20


def _interactive() -> bool:
    return sys.stdin.isatty()


def _confirmed(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not _interactive():
        raise UsageError(
            "this command changes the project and needs a confirmation",
            hint="pass --yes to confirm without a prompt",
        )
    return click.confirm(question, default=False)


@click.group("migrate")
def migrate() -> None:
    """Move a legacy project (logs/, compiled/) to the contract layout, reversibly."""


def _project(ctx: click.Context, *, strict: bool = False) -> tuple[FilesystemContract, str]:
    resolved, contract = load_project(ctx, strict=strict)
    return contract, resolved.config.compat.mode


# -- plan -----------------------------------------------------------------------------------


def _homes(contract: FilesystemContract) -> dict[str, Path]:
    from osiris.compat.migrate.ops import LEGACY_ARCHIVE

    return {
        "run": contract.run_logs_dir,
        "build": contract.build_dir / "pipelines",
        "aiop": contract.aiop_dir,
        "chat_sessions": contract.sessions_dir,
        "cache": contract.cache_dir,
        "pointer": contract.last_compile_pointer.parent,
        "index": contract.runs_index,
        "archive": contract.osiris_dir / LEGACY_ARCHIVE,
    }


def _render_plan(
    plan: Plan, contract: FilesystemContract, saved: Path | None, *, applying: bool = False
) -> None:
    from rich.table import Table

    from osiris.compat.migrate.engine import NOTHING_TO_MIGRATE

    out = console()
    if plan.is_empty:
        out.print(NOTHING_TO_MIGRATE)
        return
    table = Table(title="Migration plan", title_justify="left")
    for column in ("what", "items", "goes to"):
        table.add_column(column, justify="right" if column == "items" else "left")
    homes = _homes(contract)
    for kind, row in plan.summary().items():
        home = contract.relative(homes[kind]) if kind in homes else ""
        table.add_row(_KIND_NAMES.get(kind, kind), str(row["items"]), home)
    out.print(table)
    if plan.profiles:
        out.print(f"Legacy profiles: {plan.profiles}", markup=False)
    noted = [i for i in plan.items if i.kind == "run" and i.note]
    if noted:
        out.print("Runs placed by what their files offer:")
        for item in noted[:_LISTED]:
            out.print(f"  {item.src}: {item.note}", markup=False)
        if len(noted) > _LISTED:
            out.print(f"  and {len(noted) - _LISTED} more (--json lists all)")
    reasons = Counter(i.note for i in plan.items if i.kind == "archive")
    if reasons:
        out.print("Archived under .osiris/legacy/, because:")
        for note, count in reasons.most_common(_LISTED):
            out.print(f"  {count:>4}  {note}")
    if plan.left_in_place:
        out.print("Left in place:")
        for item in plan.left_in_place[:_LISTED]:
            out.print(f"  {item.src} ({item.note})")
    if plan.warnings:
        out.print(f"{len(plan.warnings)} damaged legacy file(s) were read as far as possible.")
    if plan.conflicts:
        out.print(f"[bold red]{len(plan.conflicts)} conflict(s)[/]; apply refuses until resolved:")
        for problem in plan.conflicts[:_LISTED]:
            out.print(f"  {problem}", markup=False)
        if len(plan.conflicts) > _LISTED:
            out.print(f"  and {len(plan.conflicts) - _LISTED} more (--json lists all)")
    where = f"--plan {saved}" if saved else ""
    # Shown by `apply` itself, the plan needs no hint to run `apply`.
    hint = (
        "" if applying else f" Run `osiris migrate apply{' ' + where if where else ''}` to migrate."
    )
    out.print(f"{len(plan.ops)} steps, fingerprint {plan.fingerprint[:12]}.{hint}", markup=False)


@contextmanager
def _stopped_by_ctrl_c(contract: ProjectHome) -> Iterator[None]:
    """Ctrl-C: one line saying where the migration stopped and the ways out."""
    try:
        yield
    except KeyboardInterrupt:
        from osiris.compat import migrate as api
        from osiris.compat.migrate.engine import unfinished_error

        pending = api.unfinished(contract)
        if pending is None or pending.journal is None:
            raise Interrupted(
                "stopped by Ctrl-C; no migration is left half-done",
                hint="`osiris migrate status` shows where the project stands",
            ) from None
        error = unfinished_error(contract, pending)
        raise Interrupted(error.message, path=error.path, hint=error.hint) from None


@migrate.command("plan")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan to FILE: a new file in an existing folder, or a plan saved before.",
)
@json_option
@click.pass_context
def plan_command(ctx: click.Context, out: Path | None, as_json: bool) -> None:
    """Show what would move where (writes nothing but --out)."""
    from osiris.compat import migrate as api
    from osiris.compat.migrate.reviewed_plan import ReviewedPlan, check_destination

    contract, _ = _project(ctx, strict=True)
    api.refuse_if_unfinished(contract)
    if out is not None:
        check_destination(out)  # before seconds of planning
    planned = api.plan(contract)
    if out is not None or as_json:
        reviewed = ReviewedPlan.of(planned)
        if out is not None:
            reviewed.save(out)
        if as_json:
            emit_json(reviewed.to_json())
    if not as_json:
        _render_plan(planned, contract, out)


# -- apply ----------------------------------------------------------------------------------


@migrate.command("apply")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Apply this saved plan (refused if the project changed since).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def apply_command(ctx: click.Context, plan_file: Path | None, yes: bool, as_json: bool) -> None:
    """Migrate the project (or resume an interrupted migration)."""
    from osiris.compat import migrate as api
    from osiris.compat.migrate.engine import (
        NOTHING_TO_MIGRATE,
        check_fresh,
        check_resumable,
        conflict_error,
    )
    from osiris.compat.migrate.reviewed_plan import ReviewedPlan
    from osiris.compat.mode import resolve_mode
    from osiris.core.lock import project_lock_path, refuse_if_held

    resolved, contract = load_project(ctx, strict=True)
    refuse_if_held(project_lock_path(contract.osiris_dir))  # before seconds of planning
    mode = resolve_mode(resolved)
    fs_mode = mode.mode
    if fs_mode != "contract":
        click.echo(
            f"warning: compat.mode is {fs_mode} (from {mode.origin}): compile and run keep "
            "writing the legacy layout after this migration; set it to contract first",
            err=True,
        )
    reviewed = ReviewedPlan.load(plan_file) if plan_file else None
    pending = api.unfinished(contract)
    planned = None
    if pending is not None and pending.journal is not None:
        check_resumable(contract, pending, reviewed)
        done, total = len(pending.journal.done), pending.journal.total
        question = f"Resume migration {pending.migration_id} ({done} of {total} steps done)?"
    else:
        # A reviewed plan is planned again: applied only if nothing changed since.
        planned = api.plan(contract)
        check_fresh(reviewed, planned)
        if planned.conflicts:
            if not as_json:
                _render_plan(planned, contract, plan_file, applying=True)
            raise conflict_error(planned)
        if not planned.is_empty and not as_json:
            _render_plan(planned, contract, plan_file, applying=True)
        question = f"Apply these {len(planned.ops)} steps?"
    wanted = pending is not None or (planned is not None and not planned.is_empty)
    if wanted and not _confirmed(question, yes):
        console().print("Nothing was changed.")
        return
    with progress_bar("migrating", enabled=not as_json) as progress, _stopped_by_ctrl_c(contract):
        result = api.apply(contract, planned, progress=progress)
    from osiris.core import retention

    del planned  # a large plan no longer needed: freed before retention reads the index
    outlook = None if result.nothing_to_do else retention.outlook(contract)
    if as_json:
        emit_json({**result.to_json(), "fs_mode": fs_mode, "retention": outlook})
    elif result.nothing_to_do:
        console().print(NOTHING_TO_MIGRATE)
    else:
        verb = "Resumed and finished" if result.resumed else "Applied"
        console().print(
            f"{verb} migration {result.migration_id}: {result.ops} steps, verified. "
            "Check it with `osiris migrate status`; undo it with `osiris migrate rollback`, "
            "or end it with `osiris migrate finalize`.",
            markup=False,
        )
        assert outlook is not None
        console().print(retention.describe_outlook(outlook), markup=False)


# -- rollback -------------------------------------------------------------------------------


def _rollback_home(ctx: click.Context, as_json: bool) -> tuple[ProjectHome, str | None]:
    """The project's folders, and its mode for --json. A rollback needs only the folders:
    they are read from osiris.yaml without the full configuration unless anything in it
    needs that, which then reports it; a mistake elsewhere cannot block the undo."""
    if not as_json:
        from osiris.core.project_dirs import light_dirs

        app = ctx.find_root().obj
        dirs = light_dirs(app.project if app else None)
        if dirs is not None:
            return dirs, None
    return _project(ctx)


@migrate.command("rollback")
@click.argument("migration_id", required=False)
@click.option(
    "--force",
    is_flag=True,
    help="Keep later changes: later files go to .osiris/legacy/rollback-leftovers/<id>/, "
    "later index records and newer pointers stay.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def rollback_command(
    ctx: click.Context, migration_id: str | None, force: bool, yes: bool, as_json: bool
) -> None:
    """Undo a migration (default: the newest), restoring every file as it was."""
    from osiris.compat import migrate as api

    project, fs_mode = _rollback_home(ctx, as_json)
    which = migration_id or "the newest migration"
    if not _confirmed(f"Roll back {which}?", yes):
        console().print("Nothing was changed.")
        return
    with progress_bar("rolling back", enabled=not as_json) as progress, _stopped_by_ctrl_c(project):
        result = api.rollback(project, migration_id, force=force, progress=progress)
    if as_json:
        emit_json({**result.to_json(), "fs_mode": fs_mode})
        return
    if result.already:
        click.echo(
            f"Nothing to roll back: migration {result.migration_id} was already rolled back."
        )
        return
    click.echo(f"Rolled back migration {result.migration_id}: {result.undone} steps undone.")
    if result.dropped_pointers:
        click.echo(
            "warning: `osiris run --last-compile` no longer finds the builds the rollback moved "
            "back; compile again in contract mode, or run with the legacy layout's pointer",
            err=True,
        )
    for title, paths in (
        ("Later files set aside", result.set_aside),
        ("Kept as they are (changed after the migration)", result.kept),
        ("Already gone", result.missing),
        ("Folders kept (not empty)", result.kept_folders),
        ("Pointers set aside (they named builds moved back)", result.dropped_pointers),
    ):
        if paths:
            click.echo(f"{title}:")
            for path in paths[:_LISTED]:
                click.echo(f"  {path}")


# -- status ---------------------------------------------------------------------------------


def _render_status(report: StatusReport) -> None:
    from rich.table import Table

    from osiris.compat.migration_journal import ROLLING_BACK

    out = console()
    out.print(f"Mode: {report.fs_mode}")
    if report.legacy:
        out.print("Legacy items still present (osiris migrate plan shows where they go):")
        for kind, row in report.legacy.items():
            name = _KIND_NAMES.get(kind, kind)
            out.print(f"  {row['items']:>6}  {name}")
    else:
        out.print("No legacy items left.")
    for conflict in report.conflicts[:_LISTED]:
        out.print(f"  conflict: {conflict}", markup=False)
    if report.migrations:
        table = Table(title="Migrations", title_justify="left")
        for column in ("id", "state", "steps", "created"):
            table.add_column(column, no_wrap=column == "id")
        for migration in report.migrations:
            data = migration.to_json()
            steps = f"{data['done']}/{data['ops']}" if "ops" in data else "-"
            table.add_row(migration.migration_id, migration.state, steps, data["created_at"] or "")
        out.print(table)
    for migration in report.incomplete:
        ways = (
            "`osiris migrate rollback` finishes it"
            if migration.state == ROLLING_BACK
            else "`osiris migrate apply` resumes it, `osiris migrate rollback` undoes it"
        )
        out.print(f"Migration {migration.migration_id} is {migration.state}: {ways}.", markup=False)
    if report.mirror_problems:
        out.print(f"{len(report.mirror_problems)} mirror difference(s) (dual mode):")
        for line in report.mirror_problems[:_LISTED]:
            out.print(f"  {line}", markup=False)
    if report.dual_write_errors:
        out.print(f"{report.dual_write_errors} dual-write error(s); the last ones:")
        for line in report.last_dual_write_errors:
            out.print(f"  {line.get('path', '')}: {line.get('error', line)}", markup=False)


@migrate.command("status")
@click.option("--check", is_flag=True, help="Exit 1 while legacy items or unfinished work remain.")
@json_option
@click.pass_context
def status_command(ctx: click.Context, check: bool, as_json: bool) -> None:
    """Show the mode, legacy items left, migrations and mirror divergence."""
    from osiris.compat import migrate as api

    contract, _ = _project(ctx)
    report = api.status(contract)
    if as_json:
        emit_json(report.to_json())
    else:
        _render_status(report)
    if check and report.work_left:
        ctx.exit(EXIT_FAILED)


# -- verify ---------------------------------------------------------------------------------


@migrate.command("verify")
@click.argument("migration_id", required=False)
@json_option
@click.pass_context
def verify_command(ctx: click.Context, migration_id: str | None, as_json: bool) -> None:
    """Re-check a migration against its recorded inventory and checksums."""
    from osiris.compat import migrate as api

    contract, _ = _project(ctx)
    report = api.verify(contract, migration_id)
    if as_json:
        emit_json(report.to_json())
    else:
        out = console()
        for line in [*report.problems, *report.mirrors][:_LISTED]:
            out.print(f"  {line}", markup=False)
        if report.ok:
            out.print(
                f"Migration {report.migration_id}: {report.checked} steps verified, no differences."
            )
    if not report.ok:
        found = len(report.problems) + len(report.mirrors)
        raise VerificationFailed(f"migration {report.migration_id}: {found} difference(s)")


# -- finalize -------------------------------------------------------------------------------


@migrate.command("finalize")
@click.argument("migration_id", required=False)
@click.option("--trash", is_flag=True, help="Send .osiris/legacy/ to the OS trash.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def finalize_command(
    ctx: click.Context, migration_id: str | None, trash: bool, yes: bool, as_json: bool
) -> None:
    """End a migration's reversibility and remove the emptied legacy folders."""
    from osiris.compat import migrate as api

    contract, fs_mode = _project(ctx)
    which = migration_id or "the newest applied migration"
    extra = " and send .osiris/legacy/ to the trash" if trash else ""
    if not _confirmed(f"Finalize {which}{extra}? It can no longer be rolled back.", yes):
        console().print("Nothing was changed.")
        return
    result = api.finalize(contract, migration_id, trash=trash)
    if as_json:
        emit_json({**result.to_json(), "fs_mode": fs_mode})
        return
    out = console()
    if result.already:
        out.print(f"Migration {result.migration_id} was already finalized.")
        return
    out.print(f"Finalized migration {result.migration_id}; it can no longer be rolled back.")
    if result.removed:
        out.print(f"Removed {len(result.removed)} empty legacy folder(s).")
    for path in result.trashed:
        out.print(f"Sent {path} to the trash.", markup=False)
