"""`osiris config show | validate`: the resolved configuration and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from osiris.cli.common import console, emit_json, json_option, load_project
from osiris.core.config_model import FS_MODES
from osiris.core.fs_config import CONFIG_FILENAME, ResolvedConfig, flatten
from osiris.core.fs_paths import FilesystemContract

_ORIGIN_STYLE = {"default": "dim", "file": "green", "flag": "cyan"}


@click.group("config")
def config() -> None:
    """Show or validate the resolved configuration."""


def _describe(
    resolved: ResolvedConfig, contract: FilesystemContract, profile: str | None
) -> dict[str, Any]:
    return {
        "config_file": str(resolved.config_file) if resolved.config_file else None,
        "base_path": str(resolved.base_path),
        "values": {
            key: {"value": value, "origin": resolved.origin(key)}
            for key, value in flatten(resolved.config).items()
        },
        "paths": {name: str(path) for name, path in contract.layout().items()},
        "fs_mode": resolved.config.compat.mode,
        "profile": resolved.resolve_profile(profile),
    }


def _cell(value: Any) -> str:
    return value if isinstance(value, str) and value else json.dumps(value)


def _render(report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    out.print(f"config file: {escape(str(report['config_file']))}")
    out.print(f"fs_mode: {report['fs_mode']}    profile: {report['profile'] or '(profiles off)'}")
    values = Table(title="Settings", title_justify="left")
    values.add_column("key", no_wrap=True)
    values.add_column("value", overflow="fold")
    values.add_column("origin", overflow="fold")
    for key, entry in report["values"].items():
        style = _ORIGIN_STYLE.get(entry["origin"], "yellow")
        values.add_row(key, escape(_cell(entry["value"])), f"[{style}]{entry['origin']}[/]")
    out.print(values)
    paths = Table("name", "path", title="Paths", title_justify="left")
    for name, path in report["paths"].items():
        paths.add_row(name, escape(path))
    out.print(paths)


@config.command("show")
@click.option("--profile", default=None, help="Profile to resolve, as commands taking it do.")
@click.option("--fs-mode", type=click.Choice(FS_MODES), default=None, help="Override compat.mode.")
@json_option
@click.pass_context
def show(ctx: click.Context, profile: str | None, fs_mode: str | None, as_json: bool) -> None:
    """Print every setting, its value and origin (default, file, env VAR, flag), and the paths."""
    flags = {"filesystem.profiles.default": profile, "compat.mode": fs_mode}
    resolved, contract = load_project(ctx, flags=flags)
    report = _describe(resolved, contract, profile)
    if as_json:
        emit_json(report)
    else:
        _render(report)


def _display(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


@config.command("validate")
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check osiris.yaml (and OSIRIS_* overrides): exit 0 if valid, else 2 with the problem."""
    resolved, _ = load_project(ctx, strict=True)
    for warning in _upstream_warnings(resolved):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{_display(resolved.project_dir / CONFIG_FILENAME)}: valid")


def _upstream_warnings(resolved: ResolvedConfig) -> list[str]:
    from osiris.core.config_file import read_config_file
    from osiris.core.fs_config import upstream_keys

    if resolved.config_file is None:
        return []
    return upstream_keys(read_config_file(resolved.config_file))
