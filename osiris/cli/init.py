"""`osiris init`: create a project with the contract layout."""

from __future__ import annotations

from pathlib import Path

import click

from osiris.core.scaffold import SAMPLE_FILES, init_project


def _shown(path: Path, root: Path) -> str:
    if path == root:
        return f"{path}/"
    suffix = "/" if path.is_dir() else ""
    return path.relative_to(root).as_posix() + suffix


@click.command("init")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--git", "git", is_flag=True, help="Run `git init` unless PATH is in a repository.")
@click.option(
    "--force", is_flag=True, help="Rewrite an existing osiris.yaml (kept as osiris.yaml.bak)."
)
@click.option("--bare", is_flag=True, help="No sample pipeline and data.")
@click.pass_context
def init(ctx: click.Context, path: Path | None, git: bool, force: bool, bare: bool) -> None:
    """Create an Osiris project in PATH (default: --project, else the current folder),
    with a sample pipeline and its data unless --bare."""
    app = ctx.find_root().obj
    target = path or (app.project if app else None) or Path.cwd()
    report = init_project(target, force=force, git=git, sample=not bare)
    click.echo(f"Osiris project in {report.root}")
    for item in report.created:
        click.echo(f"  created    {_shown(item, report.root)}")
    if report.backup is not None:
        click.echo(f"  rewrote    osiris.yaml (previous file kept as {report.backup.name})")
    elif report.config == "unchanged":
        click.echo("  unchanged  osiris.yaml (already the template)")
    click.echo(f"  {report.gitignore:<10} .gitignore (osiris block)")
    if report.git_initialized:
        click.echo("  created    git repository")
    sample = report.root / SAMPLE_FILES[0]
    if sample in report.created:
        click.echo(
            f"Next: osiris compile {SAMPLE_FILES[0]} -p dev && osiris run --last-compile -p dev"
        )
    else:
        click.echo("Next: add OML files to pipelines/; `osiris config show` lists every setting.")
