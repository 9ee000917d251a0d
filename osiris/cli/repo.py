"""`osiris repo ensureignore | commit`: the git side of the contract (docs/init-and-repo.md)."""

from __future__ import annotations

import click

from osiris.cli.common import load_project
from osiris.core import gitignore


@click.group("repo")
def repo() -> None:
    """Git helpers: ignore patterns and local commits."""


@repo.command("ensureignore")
@click.pass_context
def ensureignore(ctx: click.Context) -> None:
    """Merge the recommended ignore patterns into the project's .gitignore."""
    resolved, contract = load_project(ctx)
    root = resolved.project_dir
    patterns = gitignore.ignore_patterns(contract, root)
    update = gitignore.ensure_ignore(root, patterns)
    if update.status == "unchanged":
        click.echo(f"{update.path}: already up to date")
        return
    click.echo(f"{update.path}: {update.status} the osiris block")
    for pattern in patterns:
        click.echo(f"  {pattern}")


@repo.command("commit")
@click.option("-m", "--message", required=True, help="The commit message.")
@click.pass_context
def commit(ctx: click.Context, message: str) -> None:
    """Commit osiris.yaml, .gitignore, pipelines/, build/ and aiop/ locally (no push)."""
    resolved, contract = load_project(ctx)
    root = resolved.project_dir
    paths = gitignore.commit_paths(contract, root)
    result = gitignore.commit(root, paths, message)
    click.echo(f"Committed {result.commit}: {len(result.files)} file(s)")
    for name in result.files:
        click.echo(f"  {name}")
    if result.skipped:
        click.echo(f"Skipped (ignored by .gitignore): {', '.join(result.skipped)}")
