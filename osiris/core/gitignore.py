"""Which contract paths belong in git: the managed `.gitignore` block and local commits.

`osiris.yaml`, `.gitignore`, `pipelines/`, `build/` and the durable part of `aiop/`
(`summary.json`, `run-card.md`) are committed. `run_logs/`, `.osiris/` and `aiop/**/annex/`
are not: retention prunes them (contract.md §7) or they are machine state (§1).
See docs/init-and-repo.md.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from osiris.core.config_file import CONFIG_FILENAME
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import atomic_write_bytes
from osiris.errors import ConfigError, OperationFailed, UsageError

GITIGNORE = ".gitignore"
BLOCK_START = "# osiris: filesystem contract (managed by `osiris repo ensureignore`)"
BLOCK_END = "# osiris: end"
_GLOB_CHARS = re.compile(r"([*?\[\\])")


def _anchored(root: Path, folder: Path) -> str | None:
    # Anchored with a leading "/": a pipeline slugged `run_logs` must not have its build
    # folder ignored by an unanchored `run_logs/`.
    try:
        relative = PurePosixPath(folder.relative_to(root)).as_posix()
    except ValueError:
        return None  # outside the folder of this .gitignore: nothing it can ignore
    return "/" + _GLOB_CHARS.sub(r"\\\1", relative) + "/"


def ignore_patterns(contract: FilesystemContract, root: Path) -> list[str]:
    """The `.gitignore` lines for `root`: internal state, run logs and AIOP annexes."""
    folders = [
        contract.osiris_dir,
        contract.sessions_dir,
        contract.cache_dir,
        contract.index_dir,
        contract.run_logs_dir,
    ]
    patterns: list[str] = []
    for folder in folders:
        pattern = _anchored(root, folder)
        if pattern and not any(pattern.startswith(kept) for kept in patterns):
            patterns.append(pattern)
    aiop = _anchored(root, contract.aiop_dir)
    if aiop:
        patterns.append(aiop + "**/annex/")
    return patterns


def merge_block(text: str, patterns: Sequence[str], *, path: Path) -> str:
    """`text` with the Osiris block set to `patterns`, every other line left as it was."""
    newline = "\r\n" if "\r\n" in text else "\n"
    block = "".join(line + newline for line in (BLOCK_START, *patterns, BLOCK_END))
    # Split at "\n" only: str.splitlines also splits at form feeds and other separators.
    lines = re.split(r"(?<=\n)", text)
    marks = [line.strip() for line in lines]
    if BLOCK_START in marks:
        start = marks.index(BLOCK_START)
        if BLOCK_END not in marks[start:]:
            raise ConfigError(
                "the osiris block has no end line",
                path=path,
                hint=f"add the line '{BLOCK_END}' after the osiris patterns, or delete the block",
            )
        end = marks.index(BLOCK_END, start)
        return "".join([*lines[:start], block, *lines[end + 1 :]])
    if not text:
        return block
    separator = "" if text.endswith("\n") else newline
    return text + separator + newline + block


@dataclass(frozen=True)
class IgnoreUpdate:
    """A folder's `.gitignore` before (None: absent) and after merging the Osiris block."""

    path: Path
    before: str | None
    after: str

    @property
    def status(self) -> str:
        if self.before is None:
            return "created"
        return "unchanged" if self.before == self.after else "updated"

    def write(self) -> None:
        """Write the merged file atomically, keeping its mode; does nothing when unchanged."""
        if self.status == "unchanged":
            return
        # Write through a symlinked .gitignore rather than replacing the link.
        target = self.path.resolve()
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
        atomic_write_bytes(target, self.after.encode("utf-8", "surrogateescape"), mode=mode)


def plan_ignore(root: Path, patterns: Sequence[str]) -> IgnoreUpdate:
    """Compute the merged `root/.gitignore` without writing it."""
    path = Path(root) / GITIGNORE
    before = None
    if path.exists():
        # surrogateescape: bytes that are not UTF-8 go back out exactly as they came in.
        before = path.read_bytes().decode("utf-8", "surrogateescape")
    return IgnoreUpdate(path, before, merge_block(before or "", patterns, path=path))


def ensure_ignore(root: Path, patterns: Sequence[str]) -> IgnoreUpdate:
    """Merge the Osiris block into `root/.gitignore`; running it again changes nothing."""
    update = plan_ignore(root, patterns)
    update.write()
    return update


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise UsageError("git is not installed", hint="install git, then try again")
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def git_toplevel(root: Path) -> Path | None:
    """The top folder of the git repository holding `root`; None outside git."""
    done = _git(root, "rev-parse", "--show-toplevel")
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def git_init(root: Path) -> None:
    """Create a git repository in `root`."""
    done = _git(root, "init", "--quiet")
    if done.returncode != 0:
        raise OperationFailed(f"git init failed: {_last_line(done.stderr)}", path=root)


def commit_paths(contract: FilesystemContract, root: Path) -> list[str]:
    """The paths `osiris repo commit` stages, relative to `root` (the osiris.yaml folder)."""
    candidates = [
        Path(root) / CONFIG_FILENAME,
        Path(root) / GITIGNORE,
        contract.pipelines_dir,
        contract.build_dir,
        contract.aiop_dir,
    ]
    paths = []
    for candidate in candidates:
        try:
            paths.append(PurePosixPath(candidate.relative_to(root)).as_posix())
        except ValueError:
            continue  # configured outside the project folder: not in this repository
    return paths


@dataclass(frozen=True)
class CommitResult:
    """A commit made by `commit`: its short id, the files in it, paths skipped as ignored."""

    commit: str
    files: tuple[str, ...]
    skipped: tuple[str, ...]


def _under(name: str, path: str) -> bool:
    return name == path or name.startswith(path + "/")


def commit(root: Path, paths: Sequence[str], message: str) -> CommitResult:
    """Stage `paths` (additions and deletions) and commit only them; never pushes.

    Other changes the user staged stay staged and out of this commit.
    """
    if not message.strip():
        raise UsageError("the commit message is empty", hint='pass -m "what changed"')
    if git_toplevel(root) is None:
        raise UsageError(
            "not inside a git repository",
            path=root,
            hint="run `git init` (or `osiris init --git`) first",
        )
    ignored = set(_git(root, "check-ignore", "--", *paths).stdout.splitlines())
    tracked = _git(root, "ls-files", "-z", "--", *paths).stdout.split("\0")
    # A path that is gone but still tracked is kept, so its deletion gets committed.
    wanted = [
        p
        for p in paths
        if p not in ignored
        and ((Path(root) / p).exists() or any(_under(name, p) for name in tracked))
    ]
    files: tuple[str, ...] = ()
    if wanted:
        added = _git(root, "add", "--all", "--", *wanted)
        if added.returncode != 0:
            raise OperationFailed(f"git add failed: {_last_line(added.stderr)}", path=root)
        staged = _git(root, "diff", "--cached", "--name-only", "--relative", "-z", "--", *wanted)
        files = tuple(name for name in staged.stdout.split("\0") if name)
    if not files:
        raise OperationFailed(
            f"nothing to commit: {', '.join(paths)} match the last commit", path=root
        )
    # `git commit -- <paths>` rejects a path with nothing staged, so name only the changed ones.
    touched = [p for p in wanted if any(_under(name, p) for name in files)]
    done = _git(root, "commit", "--quiet", "-m", message, "--", *touched)
    if done.returncode != 0:
        raise OperationFailed(f"git commit failed: {_last_line(done.stderr)}", path=root)
    head = _git(root, "rev-parse", "--short", "HEAD").stdout.strip()
    return CommitResult(commit=head, files=files, skipped=tuple(p for p in paths if p in ignored))
