"""Properties of the migrator over generated legacy projects (any quirk mix, any crash point)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.compat.legacy_layout import SessionKind
from osiris.compat.legacy_reader import ItemKind, scan_legacy
from osiris.compat.migrate import apply, plan, rollback
from osiris.compat.migration_journal import Journal
from osiris.core.run_index import RunIndexReader
from tests.helpers.legacy import ALL_QUIRKS, make_legacy_project
from tests.helpers.migration import contract, project_state
from tests.helpers.tree import assert_same_tree, snapshot

_roots = itertools.count()


def files_under(folder: Path) -> list[str]:
    """Everything under `folder` that is not a folder (links are not followed)."""
    found = []
    for path, folders, files in os.walk(folder, followlinks=False):
        found += [os.path.join(path, name) for name in files]
        found += [os.path.join(path, n) for n in folders if os.path.islink(os.path.join(path, n))]
    return found


def crash_at(root: Path, fraction: float) -> None:
    """Leave the state a kill leaves after `fraction` of the steps: journal behind the tree."""
    project = contract(root)
    planned = plan(project)
    applied = round(fraction * len(planned.ops))
    folder = project.migrations_dir / "20251007T120000.000Z-killed00"
    folder.mkdir(parents=True)
    planned.save(folder / "plan.json")
    header = {"migration_id": folder.name, "fingerprint": planned.fingerprint}
    journal = Journal.create(folder, {**header, "ops": len(planned.ops), "created_at": "x"})
    journal.begin(range(min(applied + 1, len(planned.ops))))
    journal.done((i, None) for i in range(max(applied - 1, 0)))
    for op in planned.ops[:applied]:
        op.apply(root)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    quirks=st.sets(st.sampled_from(sorted(ALL_QUIRKS))),
    sessions=st.integers(min_value=0, max_value=2),
    seed=st.integers(min_value=0, max_value=2**16),
    crash=st.none() | st.floats(min_value=0, max_value=1),
)
def test_apply_resume_and_rollback_on_any_legacy_project(
    fs: Any, quirks: set[str], sessions: int, seed: int, crash: float | None
) -> None:
    root = Path(f"/mix/{next(_roots)}")
    info = make_legacy_project(root, sessions=sessions, quirks=quirks, seed=seed)
    project = contract(root)
    before = project_state(root)
    outputs = {rel: i for rel, i in before.items() if rel.split("/")[0] in info.user_outputs}

    if crash is not None:
        crash_at(root, crash)
    result = apply(project)
    assert result.resumed == (crash is not None)

    # Every legacy run is in the index with its legacy session id.
    runs = {s.session_id for s in info.of_kind(SessionKind.RUN)}
    records = RunIndexReader(project.index_dir, root).query()
    assert {r.legacy_session_id for r in records} == runs
    # Nothing of the legacy layout is left outside .osiris/legacy/ but empty folders.
    assert {i.kind for i in scan_legacy(root).items} <= {ItemKind.USER_OUTPUT}
    assert files_under(root / "logs") == [] and files_under(root / "compiled") == []
    # User outputs are untouched, to the mtime.
    migrated = snapshot(root)
    assert_same_tree(outputs, {k: migrated[k] for k in outputs}, modes=True, mtimes=True)

    # Applying again is harmless.
    assert apply(project).nothing_to_do
    assert_same_tree(migrated, snapshot(root), modes=True, mtimes=True)

    rollback(project)
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)
