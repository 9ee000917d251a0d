"""The stat-level checks: a plan still matching its tree (`seen.py`, next to a real re-plan),
and the end verification of renamed items.

On a real folder: both rely on folders getting a new mtime when an entry is added to them
or removed (POSIX), which pyfakefs does not model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from osiris.compat.legacy_layout import SessionKind
from osiris.compat.migrate import apply, engine, plan, verify
from osiris.compat.migrate.planner import Plan
from osiris.compat.migrate.seen import Seen, unchanged
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_index import RunIndexReader, RunIndexWriter, RunRecord
from tests.helpers.legacy import LegacyProjectInfo, make_legacy_project
from tests.helpers.migration import contract

# A legacy project is what these tests plan: writing logs/ is their point.
pytestmark = pytest.mark.allow_legacy_writes

QUIRKS = {"aiop_folders", "aiop_session_names", "unknown_items", "null_profile", "named_profile"}
OLD = 1_600_000_000_000_000_000


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, LegacyProjectInfo]:
    root = tmp_path / "proj"
    info = make_legacy_project(root, sessions=2, quirks=QUIRKS)
    (root / "osiris.yaml").write_text("filesystem:\n  profiles:\n    default: dev\n")
    # Old folder mtimes: a change below must give a folder a different one, even within
    # the filesystem's timestamp granularity.
    for folder, _, _ in os.walk(root):
        os.utime(folder, ns=(OLD, OLD))
    return root, info


def run_dir(root: Path, info: LegacyProjectInfo) -> Path:
    return root / "logs" / info.of_kind(SessionKind.RUN)[0].session_id


def append(path: Path, text: str) -> None:
    with open(path, "a") as handle:
        handle.write(text)


CHANGES: dict[str, Callable[[Path, LegacyProjectInfo], Any]] = {
    "events appended": lambda root, info: append(run_dir(root, info) / "events.jsonl", "{}\n"),
    "a file added in a session": lambda root, info: (run_dir(root, info) / "late.txt").touch(),
    "a new session": lambda root, info: (root / "logs" / "run_1799999999999").mkdir(),
    "a new user output": lambda root, info: (root / "report.zip").write_bytes(b"PK"),
    "a new legacy folder": lambda root, info: (root / ".osiris_prompts").rename(
        root / "prompts-were-here"
    ),
    "a destination taken": lambda root, info: (root / "run_logs" / "prod").mkdir(parents=True),
    "a later contract run": lambda root, info: RunIndexWriter(root / ".osiris" / "index").append(
        RunRecord(run_id="r-1", pipeline_slug="late")
    ),
    "another default profile": lambda root, info: None,  # see SETTINGS
}
# The configuration of the second plan, per change (legacy `null` profiles go to the default).
SETTINGS: dict[str, dict[str, Any]] = {"another default profile": {"profiles": {"default": "prod"}}}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_that_changes_the_plan_is_seen(
    legacy: tuple[Path, LegacyProjectInfo], change: str
) -> None:
    root, info = legacy
    planned = plan(contract(root))
    assert unchanged(root, contract(root).config, planned.seen, planned.ops)
    CHANGES[change](root, info)
    project = contract(root, **SETTINGS.get(change, {}))
    assert not unchanged(root, project.config, planned.seen, planned.ops)
    assert plan(project).fingerprint != planned.fingerprint


def test_what_the_plan_never_looked_at_changes_nothing(
    legacy: tuple[Path, LegacyProjectInfo],
) -> None:
    root, _ = legacy
    planned = plan(contract(root))
    (root / "pipelines").mkdir()
    (root / "pipelines" / "new.yaml").write_text("name: new\n")
    (root / "notes.md").write_text("not a legacy item\n")
    assert unchanged(root, contract(root).config, planned.seen, planned.ops)
    assert plan(contract(root)).fingerprint == planned.fingerprint


def test_apply_with_an_unchanged_saved_plan_does_not_plan_again(
    legacy: tuple[Path, LegacyProjectInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = legacy
    project = contract(root)
    saved = tmp_path / "plan.json"
    plan(project).save(saved)

    def refuse(_: object) -> Plan:
        raise AssertionError("planned again")

    monkeypatch.setattr(engine, "plan_project", refuse)
    result = apply(project, Plan.load(saved))
    assert result.applied == result.ops > 0
    # The migration keeps the very plan that was reviewed.
    kept = project.migrations_dir / str(result.migration_id) / "plan.json"
    assert kept.read_bytes() == saved.read_bytes()


def test_a_difference_that_leaves_the_plan_as_it_was_is_applied(
    legacy: tuple[Path, LegacyProjectInfo],
) -> None:
    root, _ = legacy
    planned = plan(contract(root))
    # A mode set in the environment changes the configuration, not where items go.
    resolved = load_config(root, env={"OSIRIS_FS_CONTRACT": "dual"})
    project = FilesystemContract.from_resolved(resolved)
    assert project.config.compat.mode == "dual"
    assert not unchanged(root, project.config, planned.seen, planned.ops)
    assert apply(project, planned).applied == len(planned.ops)


def test_the_record_survives_a_saved_plan(legacy: tuple[Path, LegacyProjectInfo]) -> None:
    root, _ = legacy
    planned = plan(contract(root))
    assert Seen.from_json(planned.seen.to_json()) == planned.seen
    assert {rel for rel, _ in planned.seen.listings} >= {".", "logs", "logs/aiop"}
    assert (".osiris/index/runs.jsonl", None) in planned.seen.paths


def test_verify_finds_a_file_added_to_a_renamed_folder(
    legacy: tuple[Path, LegacyProjectInfo],
) -> None:
    root, _ = legacy
    project = contract(root)
    apply(project)
    assert verify(project).ok
    record = RunIndexReader(project.index_dir, root).query()[0]
    (root / str(record.run_logs_path) / "late.txt").write_text("later")
    assert verify(project).problems == (
        f"{record.run_logs_path}: entries added or removed since the migration",
    )
