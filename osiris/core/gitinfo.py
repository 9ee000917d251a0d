"""Git facts for run metadata (`{branch}` token, index `branch`/`git_commit`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    branch: str = ""
    commit: str = ""


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def git_info(folder: Path) -> GitInfo:
    """The current branch and commit of the repository holding `folder`; empty outside git."""
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    return GitInfo(
        branch="" if branch == "HEAD" else branch,
        commit=_git(folder, "rev-parse", "HEAD"),
    )
