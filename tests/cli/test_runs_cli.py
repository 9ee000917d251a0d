"""`osiris runs list | show` on runs recorded by the real `osiris run`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from osiris.compat.migration_journal import Journal
from osiris.core.run_index import RunIndexWriter, RunRecord, utc_now_iso
from tests.helpers.demo import osiris, osiris_env
from tests.helpers.projects import make_orders_project

WIDE = {"COLUMNS": "220"}


def add_old_run(root: Path, run_id: str, started: datetime) -> None:
    """An index record only (its folders are long gone), started at `started`, appended after
    newer runs: as a migration appends old runs (the runner appends each run as it ends)."""
    RunIndexWriter(root / ".osiris" / "index").append(
        RunRecord(
            source="migrated",
            run_id=run_id,
            pipeline_slug="orders-by-country",
            profile="dev",
            started_at=utc_now_iso(started),
            finished_at=utc_now_iso(started + timedelta(seconds=2)),
            status="success",
            duration_ms=2000,
            run_logs_path=f"run_logs/dev/orders-by-country/{run_id}",
        )
    )


def runs(project: Path, *args: str, env: dict[str, str] | None = None):
    return osiris("--project", str(project), "runs", *args, env=env)


def listed(project: Path, *args: str) -> list[str]:
    result = runs(project, "list", *args, "--json")
    assert (result.code, result.err) == (0, ""), result.err
    return [r["run_id"] for r in result.json()]


# -- list -----------------------------------------------------------------------------------


def test_an_empty_project_lists_nothing(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path / "empty")
    result = runs(root, "list")
    assert (result.code, result.out, result.err) == (0, "No runs found.\n", "")
    assert runs(root, "list", "--json").json() == []
    assert not (root / ".osiris").exists()


def test_list_shows_every_run_newest_first_with_full_ids(
    project: Path, ids: dict[str, str]
) -> None:
    result = runs(project, "list", env=WIDE)
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "run", "id", "pipeline", "profile", "status", "started", "duration", "rows", "tags",
        "error",
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == [ids["failed"], ids["prod"], ids["dev"]]
    assert rows[0][1:4] == ["broken-orders", "dev", "failed"]
    assert rows[1][1:4] == ["orders-by-country", "prod", "success"]
    assert rows[2][-4:] == ["10", "→", "4", "nightly"]


def test_a_narrow_terminal_drops_columns_but_never_cuts_a_run_id(
    project: Path, ids: dict[str, str]
) -> None:
    result = runs(project, "list", env={"COLUMNS": "80"})
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["run", "id", "pipeline", "status"]
    assert [line.split() for line in lines[2:]] == [
        [ids["failed"], "broken-orders", "failed"],
        [ids["prod"], "orders-by-country", "success"],
        [ids["dev"], "orders-by-country", "success"],
    ]


def test_list_json_gives_the_index_records(project: Path, ids: dict[str, str]) -> None:
    data = runs(project, "list", "--json").json()
    assert [r["run_id"] for r in data] == [ids["failed"], ids["prod"], ids["dev"]]
    dev = data[2]
    assert dev["tags"] == ["nightly"] and dev["source"] == "contract"
    assert dev["run_logs_path"].startswith("run_logs/dev/orders-by-country/")
    assert (dev["status"], dev["rows_in"], dev["rows_out"]) == ("success", 10, 4)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--pipeline", "orders-by-country"], ["prod", "dev"]),
        (["--pipeline", "broken-orders"], ["failed"]),
        (["--profile", "prod"], ["prod"]),
        (["--status", "failed"], ["failed"]),
        (["--status", "success", "--profile", "dev"], ["dev"]),
        (["--tag", "nightly"], ["dev"]),
        (["--tag", "weekly"], []),
        (["--limit", "1"], ["failed"]),
        (["--limit", "0"], ["failed", "prod", "dev"]),
    ],
)
def test_list_filters(
    project: Path, ids: dict[str, str], args: list[str], expected: list[str]
) -> None:
    assert listed(project, *args) == [ids[name] for name in expected]


def test_a_bad_filter_value_exits_2(project: Path) -> None:
    result = runs(project, "list", "--status", "done")
    assert result.code == 2 and "Invalid value for '--status'" in result.err
    assert runs(project, "list", "--limit", "-1").code == 2


@pytest.fixture
def dated(project: Path) -> Path:
    now = datetime.now(timezone.utc)
    add_old_run(project, "old-10d", now - timedelta(days=10))
    add_old_run(project, "old-3h", now - timedelta(hours=3))
    return project


def since_forms() -> list[tuple[str, list[str]]]:
    now = datetime.now(timezone.utc)
    recent = ["failed", "prod", "dev"]
    return [
        ("30m", recent),
        ("24h", ["old-3h", *recent]),
        ("7d", ["old-3h", *recent]),
        ("2w", ["old-3h", "old-10d", *recent]),
        ((now - timedelta(days=5)).strftime("%Y-%m-%d"), ["old-3h", *recent]),
        ((now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), ["old-3h", *recent]),
        ((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), recent),
        ((now + timedelta(days=1)).strftime("%Y-%m-%d"), []),
    ]


@pytest.mark.parametrize(("since", "expected"), since_forms())
def test_since_in_every_form(
    dated: Path, ids: dict[str, str], since: str, expected: list[str]
) -> None:
    wanted = [ids.get(name, name) for name in expected]
    assert sorted(listed(dated, "--since", since)) == sorted(wanted)


def test_since_counts_from_the_start_and_lists_newest_first(
    dated: Path, ids: dict[str, str]
) -> None:
    assert listed(dated, "--since", "2w", "--limit", "2") == [ids["failed"], ids["prod"]]


@pytest.mark.parametrize("value", ["yesterday", "7", "1y", "07/10/2025"])
def test_a_bad_since_is_one_line_with_the_accepted_forms(project: Path, value: str) -> None:
    result = runs(project, "list", "--since", value)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: --since: '{value}' is neither a time span nor an ISO date or time (hint: use "
        "one of the forms 30s, 30m, 24h, 7d, 2w, 2025-10-07, 2025-10-07T14:00:00Z)\n"
    )


def test_a_damaged_index_line_is_a_warning(project: Path, ids: dict[str, str]) -> None:
    with open(project / ".osiris/index/runs.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"run_id": \n')
    result = runs(project, "list", "--json")
    assert result.code == 0 and len(result.json()) == 3
    assert result.err == "warning: .osiris/index/runs.jsonl: skipped a damaged line 4\n"


def _interrupted_migration(project: Path) -> Journal:
    """The journal an apply leaves when killed in its first batch of three steps."""
    folder = project / ".osiris/migrations/20261125T120000.000Z-abcdef12"
    folder.mkdir(parents=True)
    header = {"migration_id": folder.name, "fingerprint": "abcdef12", "created_at": "x", "ops": 3}
    journal = Journal.create(folder, header)
    journal.begin([0, 1, 2])
    return journal


def test_an_interrupted_migration_is_one_warning_line_in_every_reader(
    project: Path, ids: dict[str, str]
) -> None:
    journal = _interrupted_migration(project)
    notice = (
        "warning: migration 20261125T120000.000Z-abcdef12 was interrupted, so runs it was "
        "moving may be missing here; run `osiris migrate apply` to resume it, or "
        "`osiris migrate rollback` to undo it\n"
    )
    result = runs(project, "list", "--json")
    assert (result.code, result.err, len(result.json())) == (0, notice, 3)
    for command in (("logs", "list"), ("aiop", "list")):
        shown = osiris("--project", str(project), *command)
        assert (shown.code, shown.err) == (0, notice), command

    journal.mark("rollback", at="x", force=False, ops=[2, 1, 0])
    assert runs(project, "list").err == (
        "warning: the rollback of migration 20261125T120000.000Z-abcdef12 was interrupted, so "
        "runs it was moving may be missing here; run `osiris migrate rollback` to finish it\n"
    )
    journal.mark("rolled-back", at="x")
    assert runs(project, "list").err == ""


def test_a_damaged_migration_journal_does_not_stop_a_listing(
    project: Path, ids: dict[str, str]
) -> None:
    journal = _interrupted_migration(project)
    journal.path.write_text("not json\n{\n", "utf-8")
    assert listed(project) == [ids["failed"], ids["prod"], ids["dev"]]


def test_list_reads_only_the_keys_it_needs(project: Path, ids: dict[str, str]) -> None:
    # An invalid key that listing does not use does not stop it; commands using it refuse.
    config = project / "osiris.yaml"
    config.write_text("filesystem:\n  profiles: {default: qa}\n", "utf-8")
    assert listed(project) == [ids["failed"], ids["prod"], ids["dev"]]
    assert osiris("--project", str(project), "pipelines", "list").code == 2


def test_a_moved_index_is_found_through_osiris_yaml(project: Path, ids: dict[str, str]) -> None:
    shutil.move(project / ".osiris" / "index", project / "state")
    (project / "osiris.yaml").write_text("filesystem: {index_dir: state}\n", "utf-8")
    assert listed(project) == [ids["failed"], ids["prod"], ids["dev"]]


def test_outside_a_project_list_exits_2(tmp_path: Path) -> None:
    result = runs(tmp_path, "list")
    assert result.code == 2 and result.err.startswith("error: ")
    assert len(result.err.splitlines()) == 1


def test_list_starts_without_pydantic_or_the_engine(project: Path) -> None:
    probe = (
        "import sys\nfrom osiris.cli.main import main\ntry:\n    main(sys.argv[1:])\n"
        "finally:\n    print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'duckdb') or m in ('osiris.core.fs_config', 'osiris.core.runner')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "runs", "list", "--limit", "5"],
        cwd=project,
        env=osiris_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1] == "[]"


# -- show -----------------------------------------------------------------------------------


def test_show_by_id_and_by_prefix(project: Path, ids: dict[str, str]) -> None:
    full = runs(project, "show", ids["prod"], "--json").json()
    assert full["run_id"] == ids["prod"] and full["profile"] == "prod"
    prefix = ids["prod"][:-4].lower()
    assert runs(project, "show", prefix, "--json").json() == full
    assert {name: p["exists"] for name, p in full["paths"].items()} == {
        "run_logs": True,
        "aiop": True,
        "build_manifest": True,
    }
    assert full["paths"]["aiop"]["stored"] == full["aiop_path"]
    assert full["paths"]["aiop"]["path"] == str(project / full["aiop_path"])


def test_show_human_lists_the_record_and_its_paths(project: Path, ids: dict[str, str]) -> None:
    result = runs(project, "show", ids["failed"], env=WIDE)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == f"run {ids['failed']} failed"
    assert "  pipeline       broken-orders" in lines
    assert any(line.startswith("  run logs       run_logs/dev/broken-orders/") for line in lines)
    assert lines[-1].endswith("manifest.yaml (exists)")


def test_show_tells_which_files_are_gone(project: Path, ids: dict[str, str]) -> None:
    record = runs(project, "show", ids["dev"], "--json").json()
    shutil.rmtree(project / record["run_logs_path"])
    after = runs(project, "show", ids["dev"], "--json").json()
    assert after["paths"]["run_logs"]["exists"] is False
    assert after["paths"]["aiop"]["exists"] is True
    human = runs(project, "show", ids["dev"], env=WIDE).out
    assert f"{record['run_logs_path']} (missing)" in human


def test_show_an_ambiguous_prefix_lists_the_candidates(project: Path, ids: dict[str, str]) -> None:
    result = runs(project, "show", ids["dev"][:4])
    assert (result.code, result.out) == (2, "")
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith(f"error: run id '{ids['dev'][:4]}' matches 3 runs: ")
    assert all(run_id in result.err for run_id in ids.values())
    assert result.err.endswith("(hint: type more of the run id, or PIPELINE/RUN_ID as listed)\n")


def test_show_an_unknown_run_exits_2_with_a_hint(project: Path) -> None:
    result = runs(project, "show", "nope")
    assert (result.code, result.out) == (2, "")
    assert (
        result.err == "error: no run 'nope' in the index (hint: osiris runs list shows run ids)\n"
    )


def test_a_bad_environment_override_stops_runs_list_too(project: Path) -> None:
    result = runs(project, "list", env={"OSIRIS_FS_CONTRACT": "bogus"})
    assert result.code == 2
    assert result.err.startswith("error: OSIRIS_FS_CONTRACT: compat.mode:")
    assert len(result.err.strip().splitlines()) == 1
