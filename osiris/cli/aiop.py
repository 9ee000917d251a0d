"""`osiris aiop list | show | export`: the AI observability packs of runs."""

from __future__ import annotations

from pathlib import Path

import click

from osiris.cli.common import console, emit_json, json_option, load_project
from osiris.cli.logs import render_folders
from osiris.cli.runs import open_catalog, warn


@click.group("aiop")
def aiop_group() -> None:
    """List, show and export AI observability packs."""


@aiop_group.command("list")
@click.option("--pipeline", metavar="SLUG", help="Only packs of this pipeline.")
@click.option("--profile", help="Only packs of this profile.")
@json_option
@click.pass_context
def list_packs(
    ctx: click.Context, pipeline: str | None, profile: str | None, as_json: bool
) -> None:
    """List AIOP packs under aiop/ (and legacy logs/aiop/), newest first, indexed or not."""
    from osiris.core.run_sources import RunFilter

    catalog, dirs = open_catalog(ctx)
    packs = catalog.packs(RunFilter(pipeline=pipeline, profile=profile))
    warn(catalog.warnings)
    render_folders(packs, dirs.base_path, as_json, empty="No AIOP packs found.")


@aiop_group.command("show")
@click.argument("run_id")
@json_option
@click.pass_context
def show_pack(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Print the summary.json of a run's pack (RUN_ID or a unique prefix); a legacy
    pack's AIOP JSON as the old tool wrote it."""
    from osiris.core.run_sources import display_path

    catalog, dirs = open_catalog(ctx)
    pack = catalog.pack(run_id)
    text = catalog.pack_json(pack)
    warn(catalog.warnings)
    damage = _json_damage(text)
    if damage:
        shown = display_path(pack.path, dirs.base_path)
        click.echo(
            f"warning: {shown}: the pack's JSON is damaged ({damage}); shown as it is", err=True
        )
    if as_json:
        click.echo(text, nl=not text.endswith("\n"))
        return
    origin = f" ({pack.source})" if pack.source != "contract" else ""
    click.echo(f"pack: {display_path(pack.path, dirs.base_path)}{origin}")
    click.echo(text, nl=not text.endswith("\n"))


@aiop_group.command("export")
@click.argument("run_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Zip file to write, or a folder to write into (an existing one, or one given with a "
    "trailing /). Default: ./<run_id>-aiop.zip. An existing file is refused.",
)
@json_option
@click.pass_context
def export_pack(ctx: click.Context, run_id: str, output: str | None, as_json: bool) -> None:
    """Zip a run's pack; a missing pack is first rebuilt from the run's logs."""
    from osiris.core import aiop_export, run_sources

    _, contract = load_project(ctx)
    catalog = run_sources.catalog_for(run_sources.ProjectDirs.from_contract(contract))
    result = aiop_export.export_pack(catalog, contract, run_id, output, cwd=Path.cwd())
    warn(catalog.warnings)
    data = {
        "run_id": result.run_id,
        "zip": str(result.zip_path),
        "pack": contract.relative(result.pack_dir),
        "regenerated": result.regenerated,
        "files": list(result.files),
    }
    if as_json:
        emit_json(data)
        return
    out = console()
    if result.regenerated:
        out.print(f"rebuilt the missing pack from the run logs into {data['pack']}")
    out.print(f"exported {len(result.files)} files of run {result.run_id} to {result.zip_path}")


def _json_damage(text: str) -> str | None:
    """Where `text` stops being JSON ("line 3, column 7: ..."), or None when it is JSON."""
    import json

    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    return None
