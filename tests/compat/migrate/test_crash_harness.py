"""Real SIGKILLs at seeded random steps of `migrate apply` and `migrate rollback` (compat.md §4).

One legacy project (every quirk) is built once; each kill point works on its own copy. A
`python -m osiris migrate apply --yes` child process with `OSIRIS_MIGRATE_KILL_AFTER_OPS=k`
kills itself right after its k-th step. From there, alternately, `migrate apply --yes` resumes
(the tree must equal a reference apply that was never killed) and `migrate rollback --yes`
then restores the original tree exactly, or `migrate rollback --yes` restores it directly.
Further kill points hit the rollback itself, which a second rollback finishes.

Only the killed command runs as a child process (it must die for real); the commands that
finish the job run through the same CLI entry point in-process, which keeps a kill point
well under a second.
"""

from __future__ import annotations

import fnmatch
import random
import shutil
import signal
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from osiris.compat.migrate import engine
from osiris.compat.migration_journal import ROLLING_BACK, list_migrations
from tests.helpers.demo import CliResult, osiris, osiris_process
from tests.helpers.legacy import ALL_QUIRKS, make_legacy_project
from tests.helpers.migration import contract, project_state
from tests.helpers.tree import FileInfo, assert_same_tree

# The fixture is a legacy project: writing logs/ and compiled/ is what it is for.
pytestmark = [pytest.mark.slow, pytest.mark.allow_legacy_writes]

SEED = 20251007
APPLY_KILLS = 50  # kill points inside `apply`, 1 and the last step included
ROLLBACK_KILLS = 8  # kill points inside `rollback`
# Files the migration writes itself: their mtime is the time of the migration.
GENERATED = (".osiris/index/*", "aiop/*/summary.json")


@dataclass(frozen=True)
class Harness:
    """The pristine legacy project, its digests, and the kill points drawn for it."""

    pristine: Path
    original: dict[str, FileInfo]
    applied: dict[str, FileInfo]  # normalised digest of an apply that was never killed
    steps: int
    apply_kills: tuple[tuple[int, str], ...]  # (k, "resume" | "rollback")
    rollback_kills: tuple[int, ...]


def copy_of(pristine: Path, where: Path) -> Path:
    """A copy with the same paths, bytes, modes and mtimes (links copied as links)."""
    return Path(shutil.copytree(pristine, where, symlinks=True))


def normalised(root: Path) -> dict[str, FileInfo]:
    """The project state without what depends on when the migration ran: folder mtimes (a
    folder gets a new one when entries move in or out) and the mtimes of generated files."""
    found = {}
    for rel, info in project_state(root).items():
        timed = info.kind == "dir" or any(fnmatch.fnmatchcase(rel, p) for p in GENERATED)
        found[rel] = replace(info, mtime_ns=0) if timed else info
    return found


def killed(project: Path, pycache: Path, *command: str, after: int) -> CliResult:
    """Run `osiris --project P migrate COMMAND --yes` as a child killed after `after` steps."""
    env = {
        engine.KILL_ENV: str(after),
        # Compiled once for all children: importing Osiris from source each time would
        # cost more than the migration itself.
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(pycache),
    }
    args = ("--project", str(project), "migrate", *command, "--yes")
    return osiris_process(*args, cwd=project, env=env)


def migrate(project: Path, *command: str) -> CliResult:
    return osiris("--project", str(project), "migrate", *command, "--yes")


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    base = tmp_path_factory.mktemp("crash")
    pristine = base / "pristine"
    make_legacy_project(pristine, sessions=6, quirks=ALL_QUIRKS, seed=SEED)
    (pristine / "osiris.yaml").write_text("filesystem:\n  profiles:\n    default: dev\n")
    reference = copy_of(pristine, base / "reference")
    done = migrate(reference, "apply")
    assert done.code == 0, done.err
    (migration,) = list_migrations(contract(reference).migrations_dir)
    assert migration.journal is not None
    steps = migration.journal.total
    rng = random.Random(SEED)
    inner = sorted(rng.sample(range(2, steps), APPLY_KILLS - 2))
    points = [1, *inner, steps]
    # Alternate the two endings along the step range, and give both ends both endings.
    endings = [(k, ("resume", "rollback")[i % 2]) for i, k in enumerate(points)]
    endings += [(1, "rollback"), (steps, "resume")]
    undo = sorted({1, steps, *rng.sample(range(2, steps), ROLLBACK_KILLS - 2)})
    return Harness(
        pristine=pristine,
        original=project_state(pristine),
        applied=normalised(reference),
        steps=steps,
        apply_kills=tuple(endings),
        rollback_kills=tuple(undo),
    )


def test_the_harness_draws_enough_kill_points_over_the_whole_range(harness: Harness) -> None:
    points = [k for k, _ in harness.apply_kills]
    assert len(set(points)) == APPLY_KILLS and harness.steps > APPLY_KILLS
    assert min(points) == 1 and max(points) == harness.steps
    for k in (1, harness.steps):
        assert {e for p, e in harness.apply_kills if p == k} == {"resume", "rollback"}
    # Spread: every tenth of the step range holds a kill point.
    assert {k * 10 // (harness.steps + 1) for k in points} == set(range(10))
    assert len(harness.rollback_kills) == ROLLBACK_KILLS


@pytest.mark.parametrize("slot", range(APPLY_KILLS + 2))
def test_a_killed_apply_resumes_to_the_reference_or_rolls_back_exactly(
    harness: Harness, pycache: Path, tmp_path: Path, slot: int
) -> None:
    k, ending = harness.apply_kills[slot]
    project = copy_of(harness.pristine, tmp_path / "project")
    died = killed(project, pycache, "apply", after=k)
    assert died.code == -signal.SIGKILL, f"kill after step {k}: {died.code}\n{died.err}"
    pending = engine.unfinished(contract(project))
    assert pending is not None and pending.journal is not None
    assert len(pending.journal.done) < k <= pending.journal.total == harness.steps

    if ending == "resume":
        resumed = migrate(project, "apply")
        assert resumed.code == 0, resumed.err
        assert resumed.out.startswith(f"Resumed and finished migration {pending.migration_id}")
        assert_same_tree(harness.applied, normalised(project), modes=True, mtimes=True)
    undone = migrate(project, "rollback")
    assert undone.code == 0, undone.err
    assert_same_tree(harness.original, project_state(project), modes=True, mtimes=True)


@pytest.mark.parametrize("slot", range(ROLLBACK_KILLS))
def test_a_killed_rollback_is_finished_by_the_next_rollback(
    harness: Harness, pycache: Path, tmp_path: Path, slot: int
) -> None:
    k = harness.rollback_kills[slot]
    project = copy_of(harness.pristine, tmp_path / "project")
    assert migrate(project, "apply").code == 0
    died = killed(project, pycache, "rollback", after=k)
    assert died.code == -signal.SIGKILL, f"kill after undoing step {k}: {died.code}\n{died.err}"
    pending = engine.unfinished(contract(project))
    assert pending is not None and pending.state == ROLLING_BACK
    refused = migrate(project, "apply")
    assert refused.code == 2 and "run `osiris migrate rollback` to finish it" in refused.err
    finished = migrate(project, "rollback")
    assert finished.code == 0, finished.err
    assert_same_tree(harness.original, project_state(project), modes=True, mtimes=True)
