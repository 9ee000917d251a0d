"""Each legacy layout variant, fixed: cut from the real tree upstream v0.3.5 wrote (never
generated at random), planned, migrated and rolled back to the byte.

| variant | logs/ | top-level compiled/ | .aiop-annex/ |
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.demo import osiris_process
from tests.helpers.tree import assert_same_tree, snapshot
from tests.helpers.upstream import copy_upstream

pytestmark = [pytest.mark.slow, pytest.mark.allow_legacy_writes]

# variant -> the top-level items of the real tree it drops
VARIANTS = {
    "compiled-only": ("logs", ".aiop-annex"),
    "logs-only": ("compiled", ".aiop-annex"),
    "logs-and-compiled": (".aiop-annex",),
    "logs-and-annex": ("compiled",),
    "all-three": (),
}


def variant(tmp_path: Path, name: str) -> Path:
    project = copy_upstream("v035", tmp_path / name)
    for dropped in VARIANTS[name]:
        shutil.rmtree(project / dropped)
    return project


def planned_sources(project: Path) -> set[str]:
    done = osiris_process("migrate", "plan", "--json", cwd=project)
    assert done.code == 0, done.err
    plan = done.json()
    assert plan["conflicts"] == []
    return {item["src"].split("/", 1)[0] for item in plan["items"]}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_migrates_and_rolls_back_exactly(tmp_path: Path, name: str) -> None:
    project = variant(tmp_path, name)
    present = {top for top in ("logs", "compiled", ".aiop-annex") if (project / top).exists()}
    planned = planned_sources(project)
    assert present <= planned  # each legacy top-level item of the variant is planned ...
    assert planned.isdisjoint(VARIANTS[name])  # ... and nothing it lacks

    before = snapshot(project)
    applied = osiris_process("migrate", "apply", "--yes", cwd=project)
    assert applied.code == 0, applied.err
    for top in present:  # emptied; the folders themselves stay until `migrate finalize`
        assert [p for p in (project / top).rglob("*") if not p.is_dir()] == []
    status = osiris_process("migrate", "status", "--json", cwd=project).json()
    assert status["legacy"] == {}
    runs = osiris_process("runs", "list", "--json", cwd=project).json()
    assert (len(runs) > 0) is ("logs" in present)

    rolled = osiris_process("migrate", "rollback", "--yes", cwd=project)
    assert rolled.code == 0, rolled.err
    assert_same_tree(before, snapshot(project, ignore=(".osiris",)))
