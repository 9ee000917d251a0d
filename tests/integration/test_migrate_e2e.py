"""A project this Osiris wrote in `legacy` mode, migrated with the CLI and used afterwards.

The legacy project is the demo project with both demo pipelines, compiled and run with
`--fs-mode legacy` in profiles dev and prod, plus a pipeline whose SQL step fails and a last
compile that was never run. It is built once; each test migrates its own copy.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from osiris.compat.legacy_reader import scan_legacy
from tests.helpers.demo import CliResult, copy_demo_project, osiris
from tests.helpers.migration import project_state
from tests.helpers.tree import assert_same_tree, diff_trees

# Building the legacy project writes logs/ and compiled/ (in legacy mode), and migrating or
# rolling it back moves them in contract mode: the legacy-write guard would stop both.
pytestmark = [pytest.mark.slow, pytest.mark.allow_legacy_writes]

BROKEN = """\
oml_version: "0.1.0"
name: broken-orders
description: A query naming a column that does not exist.
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: bad-query
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config: {query: SELECT no_such_column FROM input_df}
  - id: write-bad
    component: filesystem.csv_writer
    mode: write
    needs: [bad-query]
    config: {path: output/broken.csv}
"""
# (pipeline file, profile, run it too); the last compile is never run.
SESSIONS = (
    ("orders_by_country.yaml", "dev", True),
    ("orders_by_country.yaml", "prod", True),
    ("open_orders.yaml", "dev", True),
    ("broken_orders.yaml", "dev", True),
    ("open_orders.yaml", "prod", False),
)


@dataclass(frozen=True)
class Legacy:
    """The legacy project and what it holds."""

    root: Path
    runs: dict[str, str]  # session id -> status
    failed: str
    last_compile: str  # the compile session `logs/.last_compile.json` names, never run


def cli(root: Path, *args: str) -> CliResult:
    return osiris("--project", str(root), *args)


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, result.out + result.err
    return result


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Legacy:
    root = copy_demo_project(tmp_path_factory.mktemp("e2e") / "orders")
    (root / "pipelines" / "broken_orders.yaml").write_text(BROKEN)
    runs: dict[str, str] = {}
    compiled = ""
    for pipeline, profile, run in SESSIONS:
        flags = ("-p", profile, "--fs-mode", "legacy", "--json")
        compiled = ok(cli(root, "compile", f"pipelines/{pipeline}", *flags)).json()
        if run:
            ran = cli(root, "run", "--last-compile", *flags)
            assert ran.code == (1 if pipeline.startswith("broken") else 0), ran.err
            runs[ran.json()["run_id"]] = ran.json()["status"]
    assert sorted(p.name for p in root.iterdir()) == [
        "compiled",
        "data",
        "logs",
        "osiris.yaml",
        "output",
        "pipelines",
    ]
    failed = next(sid for sid, status in runs.items() if status == "failed")
    return Legacy(root, runs, failed, compiled["legacy"]["session_id"])


@pytest.fixture
def project(legacy: Legacy, tmp_path: Path) -> Path:
    return Path(shutil.copytree(legacy.root, tmp_path / "orders", symlinks=True))


def migrated(root: Path) -> str:
    """Plan (saved for review) and apply that plan with the CLI; the migration id."""
    saved = root.parent / "reviewed-plan.json"
    planned = ok(cli(root, "migrate", "plan", "--out", str(saved)))
    for line in ("run sessions", "compiled trees", "AIOP files", "latest pointers"):
        assert line in planned.out
    applied = ok(cli(root, "migrate", "apply", "--plan", str(saved), "--yes", "--json")).json()
    assert applied["ops"] == applied["applied"] > 0 and applied["fs_mode"] == "contract"
    kept = json.loads(
        (root / ".osiris/migrations" / applied["migration_id"] / "plan.json").read_text()
    )
    assert kept["fingerprint"] == json.loads(saved.read_text())["fingerprint"]
    return str(applied["migration_id"])


def test_the_migrated_runs_show_in_every_reader(project: Path, legacy: Legacy) -> None:
    migrated(project)
    assert ok(cli(project, "migrate", "status", "--check")).out.startswith("Mode: contract")
    assert "no differences" in ok(cli(project, "migrate", "verify")).out

    records = ok(cli(project, "runs", "list", "--json")).json()
    assert {r["legacy_session_id"]: r["status"] for r in records} == legacy.runs
    assert {r["source"] for r in records} == {"migrated"}
    assert {r["run_id"] for r in records} == set(legacy.runs)
    assert {(r["pipeline_slug"], r["profile"]) for r in records} == {
        ("orders-by-country", "dev"),
        ("orders-by-country", "prod"),
        ("open-orders", "dev"),
        ("broken-orders", "dev"),
    }
    shown = ok(cli(project, "runs", "show", legacy.failed, "--json")).json()
    assert (shown["status"], shown["source"]) == ("failed", "migrated")
    for key in ("run_logs_path", "aiop_path", "build_manifest_path"):
        assert (project / shown[key]).exists(), key
    assert shown["run_logs_path"].startswith("run_logs/dev/broken-orders/")

    folders = ok(cli(project, "logs", "list", "--json")).json()
    assert {f["run_id"] for f in folders} == set(legacy.runs)
    log = ok(cli(project, "logs", "show", legacy.failed, "--json")).json()
    assert any("no_such_column" in line for line in log["lines"])

    packs = ok(cli(project, "aiop", "list", "--json")).json()
    assert {p["run_id"]: p["source"] for p in packs} == dict.fromkeys(legacy.runs, "migrated")
    summary = ok(cli(project, "aiop", "show", legacy.failed, "--json")).json()
    assert (summary["legacy_session_id"], summary["status"]) == (legacy.failed, "failed")


def test_run_last_compile_runs_the_migrated_build_in_contract_mode(
    project: Path, legacy: Legacy
) -> None:
    migrated(project)
    ran = ok(cli(project, "run", "--last-compile", "--json")).json()
    # The compile that was never run: open-orders in prod.
    assert (ran["pipeline_slug"], ran["profile"]) == ("open-orders", "prod")
    assert ran["status"] == "success"
    assert ran["fs_mode"] == "contract" and ran["build_manifest_path"].startswith("build/")
    records = ok(cli(project, "runs", "list", "--json")).json()
    assert [r["source"] for r in records].count("migrated") == len(legacy.runs)
    assert records[0]["run_id"] == ran["run_id"] and records[0]["source"] == "contract"
    # The legacy folders stay empty until `migrate finalize` removes them.
    assert [p for p in (project / "logs").rglob("*") if not p.is_dir()] == []


def test_rollback_restores_the_tree_byte_for_byte_and_legacy_mode_keeps_working(
    project: Path, legacy: Legacy
) -> None:
    before = project_state(project)
    migration = migrated(project)
    undone = ok(cli(project, "migrate", "rollback", "--yes"))
    assert undone.out.startswith(f"Rolled back migration {migration}: ")
    assert_same_tree(before, project_state(project), modes=True, mtimes=True)
    # Only the migrator's own record stays: legacy mode wrote no .osiris/ at all.
    assert sorted(p.name for p in (project / ".osiris").iterdir()) == ["lock", "migrations"]

    ran = ok(cli(project, "run", "--last-compile", "--fs-mode", "legacy", "--json")).json()
    assert ran["fs_mode"] == "legacy" and ran["run_logs_path"] == f"logs/{ran['run_id']}"
    sessions = {s.session_id: s for s in scan_legacy(project).sessions}
    assert sessions[ran["run_id"]].status == "success"
    assert sessions[ran["run_id"]].pipeline_slug == "open-orders"
    assert set(legacy.runs) < set(sessions)
    listed = ok(cli(project, "runs", "list", "--json")).json()
    assert listed[0]["run_id"] == ran["run_id"] and listed[0]["source"] == "legacy"


def test_after_a_later_run_rollback_refuses_and_force_keeps_the_later_files(
    project: Path,
) -> None:
    before = project_state(project)
    migration = migrated(project)
    later = ok(cli(project, "run", "--last-compile", "--json")).json()
    refused = cli(project, "migrate", "rollback", "--yes")
    assert refused.code == 2
    assert refused.err.startswith(
        f"error: rolling back {migration} would lose changes made after it: "
        ".osiris/index/runs.jsonl: holds records appended since the migration"
    )
    forced = ok(cli(project, "migrate", "rollback", "--yes", "--force"))
    assert "Kept as they are (changed after the migration):\n  .osiris/index/runs.jsonl" in (
        forced.out
    )

    changes = diff_trees(before, project_state(project), modes=True, mtimes=True)
    # Every legacy path is back; the later run's files stay, and it rewrote its output.
    assert not changes.removed
    assert set(changes.changed) == {"output", "output/open_orders.csv"}
    assert {p.split("/")[0] for p in changes.added} == {"run_logs", "aiop", ".osiris"}
    assert (project / later["run_logs_path"] / "events.jsonl").is_file()
    index = (project / ".osiris/index/runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in index] == [later["run_id"]]
    legacy_sessions = {s.session_id for s in scan_legacy(project).sessions}
    assert legacy_sessions == {p.name for p in (project / "logs").iterdir() if p.is_dir()} - {
        "aiop"
    }
