"""The branch and commit a run records, from a real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from osiris.core.gitinfo import GitInfo, git_info


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "feature/x")
    (root / "a.txt").write_text("a")
    git(root, "add", "a.txt")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    (root / "sub").mkdir()
    return root


def test_a_branch_and_its_commit(repo: Path) -> None:
    assert git_info(repo / "sub") == GitInfo("feature/x", git(repo, "rev-parse", "HEAD"))


def test_a_detached_head_has_a_commit_and_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    assert git_info(repo) == GitInfo("", git(repo, "rev-parse", "HEAD"))


def test_no_repository_or_no_commit_yet_gives_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # not a parent's repo
    assert git_info(tmp_path) == GitInfo()
    git(tmp_path, "init", "-q")
    assert git_info(tmp_path) == GitInfo()
