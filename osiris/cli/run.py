"""`osiris run`: execute a pipeline and record it under the contract."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from osiris.cli.common import console, emit_json, fs_mode_option, json_option, load_project
from osiris.errors import EXIT_FAILED

if TYPE_CHECKING:
    from osiris.core.fs_paths import FilesystemContract
    from osiris.core.run_target import RunTarget
    from osiris.core.runner import RunPlan, RunResult


def parse_tags(value: str | None) -> tuple[str, ...]:
    from osiris.core.tags import parse_tags as checked

    return checked((value or "").split(","))


def _param_args(pairs: tuple[str, ...]) -> dict[str, str]:
    if not pairs:
        return {}
    from osiris.core.oml import parse_param_args  # only when there are params

    return parse_param_args(pairs)


@click.command("run")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--last-compile", "use_last_compile", is_flag=True, help="Run the last compiled build."
)
@click.option(
    "--pipeline", metavar="SLUG", help="Run this pipeline's latest build for the profile."
)
@click.option(
    "--manifest",
    type=click.Path(path_type=Path),
    help="Run this compiled build (its manifest.yaml or folder), e.g. one Osiris 0.5 compiled.",
)
@click.option("-p", "--profile", help="Profile (default: filesystem.profiles.default).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="OML parameter.")
@click.option(
    "--set-latest",
    is_flag=True,
    help="With --param: also make this build the pipeline's latest (--last-compile).",
)
@click.option("--tags", help="Comma-separated tags recorded in the index (never in paths).")
@click.option("--run-id-format", help="Override ids.run_id_format, e.g. incremental,ulid.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Also copy the run logs here."
)
@click.option(
    "--dry-run", is_flag=True, help="Resolve everything and print the paths; write nothing."
)
@click.option("--verbose", is_flag=True, help="Also write debug.log.")
@click.option("-q", "--quiet", is_flag=True, help="No step lines while the run goes.")
@fs_mode_option
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    file: Path | None,
    use_last_compile: bool,
    pipeline: str | None,
    manifest: Path | None,
    profile: str | None,
    params: tuple[str, ...],
    set_latest: bool,
    tags: str | None,
    run_id_format: str | None,
    out: Path | None,
    dry_run: bool,
    verbose: bool,
    quiet: bool,
    fs_mode: str | None,
    as_json: bool,
) -> None:
    """Run FILE (OML or manifest.yaml), --manifest PATH, --last-compile, or --pipeline SLUG."""
    from osiris.compat.mode import resolve_mode, run_for_mode
    from osiris.core.run_target import require_manifest
    from osiris.errors import UsageError

    if manifest is not None:
        if file is not None:
            raise UsageError("give FILE or --manifest, not both", hint="osiris run --manifest PATH")
        file = require_manifest(manifest)

    flags = {"ids.run_id_format": run_id_format, "compat.mode": fs_mode}
    resolved, contract = load_project(ctx, flags=flags)
    outcome = run_for_mode(
        resolve_mode(resolved).mode,
        resolved=resolved,
        contract=contract,
        file=file,
        use_last_compile=use_last_compile,
        pipeline=pipeline,
        profile_flag=profile,
        params=_param_args(params),
        tags=parse_tags(tags),
        verbose=verbose,
        dry_run=dry_run,
        out=out,
        set_latest=set_latest,
        progress=None if quiet or as_json else _progress_printer(),
    )
    if outcome.result is None:
        _render_dry_run(contract, outcome.target, outcome.plan, outcome.fs_mode, as_json)
        return
    _render_result(outcome.result, outcome.copied_to, outcome.warnings, as_json)
    if not outcome.result.ok:
        ctx.exit(EXIT_FAILED)


def _echo(text: str, *, err: bool = False) -> None:
    """One line; click keeps its styles on a terminal only, and none under NO_COLOR."""
    click.echo(text, err=err, color=False if os.environ.get("NO_COLOR") else None)


def _progress_printer() -> Callable[[str], None]:
    """Step lines on stderr as the run goes: styled on a terminal, plain otherwise."""

    def show(line: str) -> None:
        colour = "red" if " failed: " in line else "yellow" if "interrupted" in line else None
        _echo(click.style(line, fg=colour, dim=colour is None), err=True)

    return show


def _render_dry_run(
    contract: FilesystemContract, target: RunTarget, plan: RunPlan, fs_mode: str, as_json: bool
) -> None:
    data = {
        "dry_run": True,
        "run_id": plan.run_id,
        "pipeline_slug": target.build.pipeline_slug,
        "profile": target.build.profile,
        "manifest_hash": target.build.manifest_hash,
        "build_manifest_path": contract.relative(target.build.build_dir / "manifest.yaml"),
        "run_logs_path": contract.relative(plan.run_dir),
        "aiop_path": contract.relative(plan.aiop_dir),
        "steps": [step["id"] for step in target.build.order],
        "fs_mode": fs_mode,
    }
    if as_json:
        emit_json(data)
        return
    out = console()
    out.print("[bold]Dry run[/]: nothing was written.")
    for key in (
        "pipeline_slug",
        "profile",
        "run_id",
        "build_manifest_path",
        "manifest_hash",
        "run_logs_path",
        "aiop_path",
    ):
        out.print(f"  {key:<20} {data[key]}")
    out.print(f"  {'steps':<20} {' -> '.join(data['steps'])}")


def _render_result(
    result: RunResult, copied: Path | None, warnings: list[str], as_json: bool
) -> None:
    record = result.record
    if as_json:
        data = record.to_dict()
        data["error"] = result.error
        if warnings:  # a dual-mode mirror that failed; the run itself is unaffected
            data["warnings"] = warnings
        if copied:
            data["copied_to"] = str(copied)
        emit_json(data)
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    # click styles (kept on a terminal only) rather than rich: a run that prints a few
    # lines should not pay rich's import, which is a tenth of a small run's time.
    colour = "green" if result.ok else "red"
    _echo(
        f"{click.style(record.status, fg=colour, bold=True)} run "
        f"{click.style(record.run_id, bold=True)} of {record.pipeline_slug}"
        + (f" (profile {record.profile})" if record.profile else "")
    )
    rows = [
        ("run logs", record.run_logs_path),
        ("aiop", record.aiop_path),
        ("manifest", record.build_manifest_path),
        ("manifest hash", record.manifest_hash),
        ("duration", f"{record.duration_ms} ms"),
        ("rows", f"{record.rows_in} in, {record.rows_out} out"),
        ("fs mode", record.fs_mode),
    ]
    if "legacy_mirror" in record.extra:
        rows.append(("legacy mirror", record.extra["legacy_mirror"]))
    if copied:
        rows.append(("copied to", str(copied)))
    for label, value in rows:
        _echo(f"  {label:<14} {value}")
    if result.error:
        _echo("  " + click.style(result.error, fg="red"))
