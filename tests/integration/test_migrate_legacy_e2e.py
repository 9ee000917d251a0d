"""End to end: a project this tool wrote in `legacy` mode is migrated, used in contract mode,
and rolled back byte for byte, after which `legacy` mode keeps working on it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from osiris.compat.legacy_reader import scan_legacy
from tests.helpers.demo import CliResult, copy_demo_project, osiris
from tests.helpers.migration import project_state
from tests.helpers.tree import assert_same_tree

pytestmark = pytest.mark.allow_legacy_writes

LEGACY = ("--fs-mode", "legacy")
BROKEN = """\
oml_version: "0.1.0"
name: broken-orders
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: aggregate
    component: duckdb.processor
    mode: transform
    config: {query: "SELECT no_such_column FROM input_df"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    config: {path: output/broken.csv}
"""


def cli(root: Path, *args: str, code: int = 0) -> CliResult:
    result = osiris("--project", str(root), *args)
    assert result.code == code, (args, result.out, result.err)
    return result


def legacy_project(root: Path) -> list[str]:
    """Several pipelines, two profiles, a failed run and a compile-only session, all legacy."""
    copy_demo_project(root)
    (root / "pipelines" / "broken.yaml").write_text(BROKEN, "utf-8")
    runs = []
    for args, code in (
        (("compile", "pipelines/orders_by_country.yaml", "-p", "dev"), None),
        (("run", "--last-compile"), 0),
        (("compile", "pipelines/orders_by_country.yaml", "-p", "prod"), None),
        (("run", "--last-compile"), 0),
        (("run", "pipelines/open_orders.yaml", "-p", "dev"), 0),
        (("run", "pipelines/broken.yaml"), 1),
        (("compile", "pipelines/open_orders.yaml", "-p", "prod"), None),  # compile only
    ):
        result = cli(root, *args, *LEGACY, "--json", code=code or 0)
        if code is not None:
            runs.append(result.json()["run_id"])
    return runs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("legacy") / "proj"
    return root, legacy_project(root)


@pytest.fixture
def project(template: tuple[Path, list[str]], tmp_path: Path) -> Path:
    root, _ = template
    return Path(shutil.copytree(root, tmp_path / "proj", symlinks=True))


@pytest.fixture
def session_ids(template: tuple[Path, list[str]]) -> list[str]:
    return template[1]


def migrated_records(root: Path) -> dict[str, dict[str, Any]]:
    records = cli(root, "runs", "list", "--limit", "0", "--json").json()
    return {r["run_id"]: r for r in records}


def test_the_legacy_project_holds_only_the_legacy_layout(project: Path) -> None:
    for contract_folder in ("build", "run_logs", "aiop", ".osiris"):
        assert not (project / contract_folder).exists()
    assert not scan_legacy(project).is_empty


def test_migrate_then_every_reader_sees_the_runs_and_rollback_restores_every_byte(
    project: Path, session_ids: list[str]
) -> None:
    original = project_state(project)
    cli(project, "migrate", "plan")
    applied = cli(project, "migrate", "apply", "--yes")
    assert "verified" in applied.out

    records = migrated_records(project)
    assert set(records) == set(session_ids)
    for run_id, record in records.items():
        assert (record["source"], record["legacy_session_id"]) == ("migrated", run_id)
    statuses = sorted(r["status"] for r in records.values())
    assert statuses == ["failed", "success", "success", "success"]
    assert {r["profile"] for r in records.values()} == {"dev", "prod"}
    assert not any((project / "logs").rglob("*.jsonl"))  # nothing left outside .osiris/legacy

    failed = next(r for r in records.values() if r["status"] == "failed")
    shown = cli(project, "runs", "show", failed["run_id"], "--json").json()
    assert shown["run_id"] == failed["run_id"]
    logs = cli(project, "logs", "list", "--json").json()
    assert {entry["run_id"] for entry in logs} == set(session_ids)
    events = cli(project, "logs", "show", failed["run_id"], "--events").out
    assert "step_error" in events and "run_end" in events
    packs = cli(project, "aiop", "list", "--json").json()
    assert {entry["run_id"] for entry in packs} == set(session_ids)
    summary = cli(project, "aiop", "show", failed["run_id"], "--json").json()
    assert summary["status"] == "failed"

    cli(project, "migrate", "status", "--check")
    cli(project, "migrate", "verify")

    cli(project, "migrate", "rollback", "--yes")
    assert_same_tree(original, project_state(project), modes=True, mtimes=True)

    again = cli(project, "run", "--last-compile", *LEGACY, "--json").json()
    assert again["status"] == "success"
    assert scan_legacy(project).session(again["run_id"]) is not None


def test_after_migration_contract_runs_work_and_rollback_keeps_them_only_with_force(
    project: Path,
) -> None:
    cli(project, "migrate", "apply", "--yes")
    new_run = cli(project, "run", "--last-compile", "--json").json()
    assert (new_run["status"], new_run["fs_mode"]) == ("success", "contract")
    assert new_run["build_manifest_path"].startswith("build/pipelines/prod/open-orders/")

    refused = cli(project, "migrate", "rollback", "--yes", code=2)
    assert "would lose changes made after it" in refused.err
    cli(project, "migrate", "rollback", "--yes", "--force")
    assert (project / new_run["run_logs_path"] / "events.jsonl").is_file()
    assert new_run["run_id"] in migrated_records(project)
