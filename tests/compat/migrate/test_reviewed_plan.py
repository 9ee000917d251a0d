from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osiris.compat.legacy_layout import SessionKind
from osiris.compat.migrate import plan
from osiris.compat.migrate.reviewed_plan import ReviewedPlan, describe_changes
from osiris.errors import UsageError
from tests.helpers.legacy import ALL_QUIRKS, make_legacy_project
from tests.helpers.migration import contract


@pytest.fixture
def root(fs: Any) -> Path:
    path = Path("/proj")
    path.mkdir()
    return path


def changes(root: Path, first: ReviewedPlan, **filesystem: Any) -> list[str]:
    second = plan(contract(root, **filesystem))
    assert second.fingerprint != first.fingerprint
    return describe_changes(first, ReviewedPlan.of(second))


def test_a_saved_plan_holds_what_moves_where_and_no_steps(root: Path) -> None:
    make_legacy_project(root, sessions=3, quirks=ALL_QUIRKS)
    planned = plan(contract(root))
    reviewed = ReviewedPlan.of(planned)
    reviewed.save(root / "plan.json")
    data = json.loads((root / "plan.json").read_text())
    assert "ops" not in data and "seen" not in data
    assert data["fingerprint"] == planned.fingerprint and data["steps"] == len(planned.ops)
    assert [(i["kind"], i["src"], i["dst"]) for i in data["items"]] == [
        (i.kind, i.src, i.dst) for i in planned.items
    ]
    assert ReviewedPlan.load(root / "plan.json") == reviewed


def test_an_item_costs_the_saved_plan_its_paths_and_a_digest(root: Path) -> None:
    make_legacy_project(root, sessions=40, quirks=())
    planned = plan(contract(root))
    ReviewedPlan.of(planned).save(root / "plan.json")
    # No inventories, checksums or index records: those stay in the migration's own plan.
    assert len((root / "plan.json").read_bytes()) / len(planned.items) < 300


def test_changes_say_which_item_changed(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    first = ReviewedPlan.of(plan(contract(root)))
    run = info.of_kind(SessionKind.RUN)[0].session_id
    with open(root / f"logs/{run}/events.jsonl", "a") as handle:
        handle.write('{"event":"late"}\n')
    (root / "logs/run_1759999999999").mkdir()
    found = changes(root, first)
    assert f"logs/{run}: changed since the plan" in found
    assert ".osiris/index/runs.jsonl: changed since the plan" in found  # its records changed
    assert any(c.startswith("new since the plan: run logs/run_1759999999999 ->") for c in found)


def test_a_new_home_is_named(root: Path) -> None:
    info = make_legacy_project(root, sessions=1)
    first = ReviewedPlan.of(plan(contract(root)))
    run = info.of_kind(SessionKind.RUN)[0].session_id
    found = changes(root, first, run_logs_dir="logs_of_runs")
    line = next(c for c in found if c.startswith(f"logs/{run}:"))
    assert line.startswith(f"logs/{run}: now goes to logs_of_runs/") and "(was run_logs/" in line


def test_a_new_user_output_makes_a_saved_plan_stale(root: Path) -> None:
    make_legacy_project(root, sessions=1)
    first = ReviewedPlan.of(plan(contract(root)))
    (root / "report.zip").write_bytes(b"PK")
    assert changes(root, first) == ["new, left in place: report.zip"]


def test_a_migration_s_full_plan_is_not_a_reviewed_plan(root: Path) -> None:
    make_legacy_project(root, sessions=1)
    plan(contract(root)).save(root / "full.json")
    with pytest.raises(UsageError) as refused:
        ReviewedPlan.load(root / "full.json")
    assert refused.value.one_line() == (
        "/proj/full.json: not a plan saved by `osiris migrate plan --out` of this version "
        "(hint: make a new one with `osiris migrate plan --out FILE`)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": 99}', "not a migration plan of format reviewed-1"),
        ('{"format": "reviewed-1", "items": []}', "a damaged migration plan (KeyError: "),
        ("[1, 2", "cannot read the plan: "),
    ],
)
def test_a_damaged_saved_plan_is_one_line(root: Path, text: str, message: str) -> None:
    (root / "plan.json").write_text(text)
    with pytest.raises(UsageError) as refused:
        ReviewedPlan.load(root / "plan.json")
    assert refused.value.one_line().startswith(f"/proj/plan.json: {message}")
