"""Git facts for run metadata (`{branch}` token, index `branch`/`git_commit`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    branch: str = ""
    commit: str = ""


def git_info(folder: Path) -> GitInfo:
    """The current branch and commit of the repository holding `folder`; empty outside git
    (and in a repository with no commit yet). One `git` process: a run pays for it."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return GitInfo()
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return GitInfo()
    commit, branch = lines
    return GitInfo(branch="" if branch == "HEAD" else branch, commit=commit)
