"""Crash harness: a real `osiris migrate apply` (or `rollback`) is SIGKILLed after a random
number of steps, many times over; each crashed project must resume to the same result as an
uninterrupted migration, and roll back to the exact original tree (paths, bytes, modes,
mtimes).

The kill point comes from the engine's test hook (`OSIRIS_MIGRATE_KILL_AFTER_OPS`): the
process kills itself right after applying its N-th step, before journaling it, which is the
worst moment for the journal.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from osiris.compat import migrate
from osiris.compat.migrate.engine import KILL_ENV
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from tests.helpers.demo import osiris_env
from tests.helpers.legacy import make_legacy_project
from tests.helpers.migration import project_state
from tests.helpers.tree import FileInfo, assert_same_tree

pytestmark = [pytest.mark.slow, pytest.mark.allow_legacy_writes]

KILL_POINTS = 50
ROLLBACK_KILLS = 6
QUIRKS = {
    "failed_run",
    "interrupted_run",
    "null_profile",
    "named_profile",
    "aiop_folders",
    "aiop_session_names",
    "aiop_first_run_names",
    "latest_cycle",
    "top_level_compiled",
    "unknown_items",
    "same_hash_compiles",
    "truncated_jsonl",
}
# Written by the migration itself (generated summaries, index lines, pointers), so their
# mtimes are the moment they were written; everything else was moved and keeps its mtime.
GENERATED = (".osiris/index", "aiop/")


def contract_of(root: Path) -> FilesystemContract:
    return FilesystemContract.from_resolved(load_config(root, env={}))


def killed(root: Path, command: str, after: int) -> None:
    """Run `osiris migrate COMMAND --yes` as a child that SIGKILLs itself after `after` steps."""
    done = subprocess.run(
        [sys.executable, "-m", "osiris", "--project", str(root), "migrate", command, "--yes"],
        env=osiris_env({KILL_ENV: str(after)}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)


def comparable(state: dict[str, FileInfo]) -> dict[str, tuple[object, ...]]:
    """Each path's type, bytes and mode; the mtime too unless the migration wrote the file."""
    return {
        path: (
            info.kind,
            info.digest,
            info.link_target,
            info.mode,
            None if info.kind == "dir" or path.startswith(GENERATED) else info.mtime_ns,
        )
        for path, info in state.items()
    }


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "proj"
    make_legacy_project(root, sessions=8, quirks=QUIRKS, seed=7)
    (root / "osiris.yaml").write_text("filesystem:\n  profiles:\n    default: dev\n", "utf-8")
    return root


@pytest.fixture(scope="module")
def reference(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The original state, the state after an uninterrupted apply, and the number of steps."""
    root = Path(shutil.copytree(pristine, tmp_path_factory.mktemp("ref") / "proj", symlinks=True))
    original = project_state(root)
    steps = len(migrate.plan(contract_of(root)).ops)
    migrate.apply(contract_of(root))
    return {"original": original, "applied": comparable(project_state(root)), "steps": steps}


def kill_points(steps: int, count: int, seed: int) -> list[int]:
    """`count` kill points spread over 1..steps, always including the first and the last."""
    chosen = random.Random(seed).choices(range(1, steps + 1), k=count - 2)
    return [1, steps, *chosen]


def test_the_project_has_enough_steps_to_crash_in_many_places(reference: dict) -> None:
    assert reference["steps"] >= 40


@pytest.mark.parametrize("index", range(KILL_POINTS))
def test_a_killed_apply_resumes_or_rolls_back_exactly(
    index: int, pristine: Path, reference: dict, tmp_path: Path
) -> None:
    after = kill_points(reference["steps"], KILL_POINTS, seed=2025)[index]
    root = Path(shutil.copytree(pristine, tmp_path / "proj", symlinks=True))
    killed(root, "apply", after)
    assert migrate.unfinished(contract_of(root)) is not None
    if index % 2 == 0:
        migrate.apply(contract_of(root))  # resume: skips done steps, re-checks the begun one
        assert comparable(project_state(root)) == reference["applied"]
        assert migrate.verify(contract_of(root)).ok
    migrate.rollback(contract_of(root))
    assert_same_tree(reference["original"], project_state(root), modes=True, mtimes=True)


@pytest.mark.parametrize("index", range(ROLLBACK_KILLS))
def test_a_killed_rollback_finishes_on_the_next_rollback(
    index: int, pristine: Path, reference: dict, tmp_path: Path
) -> None:
    after = kill_points(reference["steps"], ROLLBACK_KILLS, seed=99)[index]
    root = Path(shutil.copytree(pristine, tmp_path / "proj", symlinks=True))
    migrate.apply(contract_of(root))
    killed(root, "rollback", after)
    migrate.rollback(contract_of(root))
    assert_same_tree(reference["original"], project_state(root), modes=True, mtimes=True)
