"""`osiris compile FILE`: an OML pipeline becomes a deterministic build (docs/compile.md)."""

from __future__ import annotations

from pathlib import Path

import click

from osiris.cli.common import (
    emit_json,
    fs_mode_option,
    json_option,
    load_project,
    stopped_by_ctrl_c,
)


@click.command("compile")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-p", "--profile", default=None, help="Profile to compile for (default: configured).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a pipeline param; beats env OSIRIS_PARAM_<NAME> and the OML profile. Repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also copy the build folder into this folder.",
)
@fs_mode_option
@json_option
@click.pass_context
def compile_command(
    ctx: click.Context,
    file: Path,
    profile: str | None,
    params: tuple[str, ...],
    out: Path | None,
    fs_mode: str | None,
    as_json: bool,
) -> None:
    """Compile an OML pipeline into build/pipelines/[<profile>/]<slug>/<short>-<hash>/.

    With --fs-mode legacy the build goes to logs/compile_<ms>/ instead; dual writes both.
    """
    # Imported here so `osiris compile --help` stays light (no compiler, no drivers).
    from osiris.compat.mode import compile_for_mode, resolve_mode
    from osiris.core.compiler import export_build, find_oml
    from osiris.core.oml import parse_param_args

    cli_params = parse_param_args(params)
    resolved, contract = load_project(ctx, flags={"compat.mode": fs_mode})
    mode = resolve_mode(resolved)
    with stopped_by_ctrl_c("compile stopped by Ctrl-C; no build or pointer was changed"):
        result = compile_for_mode(
            mode.mode,
            find_oml(file, contract),
            resolved=resolved,
            contract=contract,
            profile=profile,
            cli_params=cli_params,
        )
    exported = export_build(result.build_dir, out) if out is not None else None
    pointers = [contract.relative(p) for p in result.pointers]
    legacy = result.legacy
    if as_json:
        data = {
            "pipeline_slug": result.pipeline_slug,
            "profile": result.profile,
            "manifest_hash": result.manifest_hash,
            "manifest_short": result.manifest_short,
            "build_path": contract.relative(result.build_dir),
            "manifest_path": contract.relative(result.manifest_path),
            "created": result.created,
            "pointers": pointers,
            "exported_to": str(exported) if exported else None,
            "notes": result.notes,
            "fs_mode": result.fs_mode,
        }
        if result.fs_mode != "contract":
            data["legacy"] = (
                {
                    "session_id": legacy.session_id,
                    "session_path": contract.relative(legacy.session_dir),
                    "manifest_path": contract.relative(legacy.manifest_path),
                    "compiled_copy": contract.relative(legacy.top_level),
                }
                if legacy
                else None  # dual mode, and the mirror failed (see warnings)
            )
            data["warnings"] = result.warnings
        emit_json(data)
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    profile_text = f" [profile {result.profile}]" if result.profile else ""
    status = " (unchanged)" if not result.created else ""
    click.echo(f"compiled {result.pipeline_slug}{profile_text}{status}")
    if result.pipeline_name and result.pipeline_name != result.pipeline_slug:
        click.echo(f"  slug:      {result.pipeline_slug} (from the name '{result.pipeline_name}')")
    click.echo(f"  build:     {contract.relative(result.build_dir)}")
    click.echo(f"  manifest:  {result.manifest_hash}")
    click.echo(f"  pointers:  {', '.join(pointers)}")
    if legacy is not None:
        copy = contract.relative(legacy.top_level)
        click.echo(f"  legacy:    {contract.relative(legacy.session_dir)} (and {copy}/)")
    if result.fs_mode != "contract":
        click.echo(f"  fs mode:   {result.fs_mode} (from {mode.origin})")
    if exported is not None:
        click.echo(f"  copied to: {exported}")
