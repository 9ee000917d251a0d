"""`osiris pipelines list | tag`: compiled pipelines, and tags on their runs."""

from __future__ import annotations

import click

from osiris.cli.common import console, emit_json, json_option, load_project
from osiris.cli.runs import columns_table, format_time, warn


@click.group("pipelines")
def pipelines() -> None:
    """List pipelines and tag their runs."""


@pipelines.command("list")
@json_option
@click.pass_context
def list_pipelines(ctx: click.Context, as_json: bool) -> None:
    """Each pipeline's latest build per profile and the status of its last run."""
    from osiris.core import pipelines as pipelines_lib
    from osiris.core import run_sources

    _, contract = load_project(ctx)
    catalog = run_sources.catalog_for(run_sources.ProjectDirs.from_contract(contract))
    builds = pipelines_lib.list_pipelines(contract, catalog)
    warn(catalog.warnings)
    rows = [b.to_dict(contract.base_path) for b in builds]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("No compiled pipelines found.")
        return
    out = console()
    columns = {
        "pipeline": [r["pipeline_slug"] for r in rows],
        "profile": [r["profile"] or "-" for r in rows],
        "build": [(r["manifest_hash"] or "?")[: contract.short_len] for r in rows],
        "latest": ["yes" if r["latest_pointer"] else "" for r in rows],
        "built": [format_time(r["built_at"]) for r in rows],
        "last run": [(r["last_run"] or {}).get("run_id", "-") for r in rows],
        "status": [(r["last_run"] or {}).get("status", "-") for r in rows],
    }
    optional = ("built", "latest", "profile")
    out.print(columns_table(columns, out.width, optional=optional, ids=("last run",)))


@pipelines.command("tag")
@click.argument("slug")
@click.option("--run", "run_id", metavar="RUN_ID", help="Tag this run (default: the latest run).")
@click.option("--all", "all_runs", is_flag=True, help="Tag every run of the pipeline.")
@click.option("--add", multiple=True, metavar="TAG", help="Tag to add (repeatable).")
@click.option("--remove", multiple=True, metavar="TAG", help="Tag to remove (repeatable).")
@json_option
@click.pass_context
def tag(
    ctx: click.Context,
    slug: str,
    run_id: str | None,
    all_runs: bool,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add or remove tags of the pipeline's latest run (or --run RUN_ID, or --all runs)."""
    from osiris.core import pipelines as pipelines_lib
    from osiris.core import run_sources

    _, contract = load_project(ctx)
    catalog = run_sources.catalog_for(run_sources.ProjectDirs.from_contract(contract))
    changes = pipelines_lib.tag_runs(
        catalog,
        contract.index_dir,
        slug,
        run_id=run_id,
        all_runs=all_runs,
        add=add,
        remove=remove,
    )
    warn(catalog.warnings)
    if as_json:
        emit_json(
            [
                {
                    "run_id": c.run_id,
                    "pipeline_slug": c.pipeline_slug,
                    "tags": list(c.after),  # as `runs list --json` shows them from now on
                    "before": list(c.before),
                    "after": list(c.after),
                    "changed": c.changed,
                }
                for c in changes
            ]
        )
        return
    out = console()
    for change in changes:
        after = ", ".join(change.after) or "(none)"
        if change.changed:
            before = ", ".join(change.before) or "(none)"
            out.print(f"{change.run_id}: tags {before} -> {after}", markup=False)
        else:
            out.print(f"{change.run_id}: unchanged ({after})", markup=False)
