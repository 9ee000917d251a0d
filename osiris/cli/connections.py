"""`osiris connections list | doctor`: the project's named connections, secrets masked."""

from __future__ import annotations

import click

from osiris.cli.common import console, emit_json, json_option, load_project
from osiris.errors import EXIT_FAILED


@click.group("connections")
def connections() -> None:
    """List the named connections of osiris_connections.yaml and check them."""


@connections.command("list")
@json_option
@click.pass_context
def list_connections(ctx: click.Context, as_json: bool) -> None:
    """Every connection with its settings (secrets masked) and unset variables."""
    from osiris.core.connections import load_connections

    resolved, _ = load_project(ctx)
    found = load_connections(resolved.project_dir)
    assert found is not None
    rows = []
    for connection in found.all():
        found.check(connection)
        rows.append(
            {
                "connection": connection.reference,
                "default": connection.default,
                "settings": connection.masked(),
                "unset_variables": found.unset_variables(connection),
            }
        )
    if as_json:
        emit_json({"file": str(found.path), "connections": rows})
        return
    out = console()
    out.print(f"[bold]{found.path.name}[/]: {len(rows)} connection(s)")
    for row in rows:
        default = " (default)" if row["default"] else ""
        out.print(f"  [bold]{row['connection']}[/]{default}", markup=True)
        for key, value in row["settings"].items():
            out.print(f"      {key}: {value}", markup=False)
        if row["unset_variables"]:
            out.print(f"      [yellow]unset: {', '.join(row['unset_variables'])}[/]")


@connections.command("doctor")
@click.argument("reference", required=False, metavar="[@FAMILY.ALIAS]")
@json_option
@click.pass_context
def doctor(ctx: click.Context, reference: str | None, as_json: bool) -> None:
    """Open each connection (or one) and report its latency or the exact error."""
    from osiris.core.connection_doctor import diagnose
    from osiris.core.connections import load_connections

    resolved, _ = load_project(ctx)
    found = load_connections(resolved.project_dir)
    assert found is not None
    chosen = [found.find(reference)] if reference else [found.check(c) for c in found.all()]
    results = [diagnose(found, c, resolved.project_dir) for c in chosen]
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        out = console()
        for result in results:
            if result.ok:
                out.print(f"[green]ok[/]     {result.reference}  {result.latency_ms} ms")
            else:
                out.print(f"[red]failed[/] {result.reference}  ", end="")
                out.print(str(result.error), markup=False)
    if not all(r.ok for r in results):
        ctx.exit(EXIT_FAILED)
