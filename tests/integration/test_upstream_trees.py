"""Projects written by the real upstream releases, read and migrated through the CLI.

The trees under `tests/fixtures/upstream/` were written by upstream v0.3.0, v0.3.5 and 0.5.7
(see their README). Every run in them must list with its real status, pipeline, profile and
times in every mode, migrate without one run lost, and roll back to the byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.demo import CliResult, osiris, osiris_process
from tests.helpers.tree import assert_same_tree, snapshot
from tests.helpers.upstream import ORIGINAL_ROOT, V030, V035, V057, copy_upstream

pytestmark = pytest.mark.allow_legacy_writes  # the fixtures are legacy trees
MODES = ("legacy", "dual", "contract")
# What a migration leaves behind besides the moved items: its record and its locks, which
# also change the mtime of .osiris/ (and create it in a project that had none).
BOOKKEEPING = (".osiris/migrations", ".osiris/lock", ".osiris/index/.lock")


def assert_restored(before: dict[str, Any], project: Path) -> None:
    """The project is back as `before` to the byte (modes and mtimes too), but for the
    migration's own record."""
    after = snapshot(project, ignore=BOOKKEEPING)
    if ".osiris" not in before:
        after = {k: v for k, v in after.items() if k != ".osiris"}
    else:
        after[".osiris"] = before[".osiris"]
    assert_same_tree(before, after, modes=True, mtimes=True)


# v0.3.5: session -> (pipeline, profile, status, legacy_status). Profile "default" and none
# map to filesystem.profiles.default (dev); the prod run was compiled with --profile prod.
V035_RUNS = {
    "run_1796289557702": ("orders-by-customer", "dev", "success", None),
    "run_1796289561772": ("orders-by-customer", "dev", "success", None),
    "run_1796289567573": ("orders-by-customer", "dev", "success", None),
    "run_1796289573646": ("orders-by-customer", "prod", "success", None),
    "run_1796289582469": ("orders-by-customer", "dev", "success", None),
    "run_1796289585652": ("orders-by-customer", "dev", "success", None),
    "run_1796289589134": ("orders-by-customer", "dev", "success", None),
    # `osiris run pipelines/bad_component.yaml`: its compile failed; only the OML names it.
    "run_1796289601485": ("bad-component", "dev", "failed", "failed_compile"),
    "run_1796289607579": ("missing-table", "dev", "failed", None),
    "run_1796289610595": ("bad-duckdb-sql", "dev", "failed", None),
    "run_1796289617071": ("orders-by-customer", "dev", "success", None),
    "run_1796289620273": ("missing-table", "dev", "failed", None),
    "run_1796289623626": ("bad-component", "dev", "failed", "failed_compile"),
    # Ctrl-C (run_end, no outcome) and SIGKILL (no run_end).
    "run_1796289626687": ("slow-query", "dev", "failed", "interrupted"),
    "run_1796289631301": ("slow-query", "dev", "failed", "interrupted"),
}
# 0.5.7: the 15 indexed runs and the 3 it never indexed (2 run-time failures and a compile
# failure inside `osiris run`), by run id -> (pipeline, profile, status).
V057_FAILED = {
    "run-000001_01M8XKMPBS5KHYHAJ81AKMABFS": ("bad-sql", "dev", "failed"),
    "run-000001_01M8XKMSEPDE3YRCDY645NH2HS": ("missing-table", "prod", "failed"),
    "run_1796290017794": ("bad-component", "dev", "failed"),
}
V057_EU_RUN = "run-000003_01M8XKMGEZNATPMCEHH40A3WQW"  # OML name "Orders Report (EU) v2"
V057_MISPLACED_PACK = "run-000002_01M8XKKPG2SAX24QTMQEY7XYK2"  # prod run, pack under aiop/dev


# What the fixtures' osiris_connections.yaml reads (their `.env` is not in the repository).
MYSQL_ENV = {
    "MYSQL_HOST": "127.0.0.1",
    "MYSQL_USER": "root",
    "MYSQL_PASSWORD": "",
    "MYSQL_DATABASE": "osiris_upstream_fixture",
}


def cli(project: Path, *args: str, mode: str | None = None) -> CliResult:
    env = {**MYSQL_ENV, "OSIRIS_FS_CONTRACT": mode} if mode else MYSQL_ENV
    return osiris("--project", str(project), *args, env=env)


def ok_json(project: Path, *args: str, mode: str | None = None) -> Any:
    result = cli(project, *args, "--json", mode=mode)
    assert result.code == 0, result.err
    return result.json()


@pytest.fixture
def v035(tmp_path: Path) -> Path:
    return copy_upstream(V035, tmp_path / "legacy-etl")


@pytest.fixture
def v057(tmp_path: Path) -> Path:
    return copy_upstream(V057, tmp_path / "shop")


# -- v0.3.x: reading ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_every_v035_run_lists_with_its_real_pipeline_profile_and_status(
    v035: Path, mode: str
) -> None:
    runs = ok_json(v035, "runs", "list", mode=mode)
    # Newest start first (the session ids are their start times).
    assert [r["run_id"] for r in runs] == sorted(V035_RUNS, reverse=True)
    for run in runs:
        found = (run["pipeline_slug"], run["profile"], run["status"], run.get("legacy_status"))
        assert found == V035_RUNS[run["run_id"]], run["run_id"]
        assert run["started_at"] and run["source"] == "legacy"
    first = next(r for r in runs if r["run_id"] == "run_1796289557702")
    # The extractor and the processor both write an unnamed rows_read: only the extract counts.
    assert (first["rows_in"], first["rows_out"], first["duration_ms"]) == (20, 9, 1381)


def test_a_compile_failed_v035_run_shows_and_says_why(v035: Path) -> None:
    shown = ok_json(v035, "runs", "show", "run_1796289601485")
    assert (shown["pipeline_slug"], shown["status"]) == ("bad-component", "failed")
    assert shown["error"] == "Components missing runtime drivers: magic-step (component: unknown)"
    assert shown["legacy_pipeline_from"] == "oml_name"


def test_the_pipeline_falls_back_to_the_oml_files_name_then_to_unknown(v035: Path) -> None:
    (v035 / "pipelines/bad_component.yaml").unlink()
    empty = v035 / "logs/run_1796289999999"
    empty.mkdir()
    runs = {r["run_id"]: r for r in ok_json(v035, "runs", "list")}
    assert runs["run_1796289601485"]["pipeline_slug"] == "bad_component"
    assert runs["run_1796289999999"]["pipeline_slug"] == "unknown"


@pytest.mark.parametrize("mode", MODES)
def test_a_dual_or_legacy_run_of_a_legacy_build_uses_the_mapped_profile(
    v035: Path, mode: str
) -> None:
    planned = ok_json(v035, "run", "--last-compile", "-p", "dev", "--dry-run", mode=mode)
    assert planned["profile"] == "dev"
    if mode != "legacy":  # legacy mode writes a logs/run_<ms>/ session
        assert planned["run_logs_path"].startswith("run_logs/dev/orders-by-customer/")


def test_a_configured_profile_map_applies_everywhere(v035: Path) -> None:
    with open(v035 / "osiris.yaml", "a", encoding="utf-8") as handle:
        handle.write("compat:\n  legacy_profiles:\n    default: staging\n")
    profiles = {r["run_id"]: r["profile"] for r in ok_json(v035, "runs", "list")}
    assert profiles["run_1796289557702"] == "staging"
    assert profiles["run_1796289573646"] == "prod"
    plan = ok_json(v035, "migrate", "plan")
    assert plan["profiles"].startswith("default (or none) -> staging")
    homes = {i["src"]: i["dst"] for i in plan["items"] if i["kind"] == "run"}
    assert homes["logs/run_1796289557702"].startswith("run_logs/staging/orders-by-customer/")


def test_a_profile_map_to_an_unknown_profile_is_one_line(v035: Path) -> None:
    with open(v035 / "osiris.yaml", "a", encoding="utf-8") as handle:
        handle.write("compat:\n  legacy_profiles:\n    default: qa\n")
    result = cli(v035, "runs", "list")
    assert (result.code, result.out) == (2, "")
    assert len(result.err.splitlines()) == 1
    assert "compat.legacy_profiles.default: Unknown profile 'qa'" in result.err


# -- v0.3.x: migrating ----------------------------------------------------------------------


def test_every_v035_run_session_is_planned_into_run_logs(v035: Path) -> None:
    plan = ok_json(v035, "migrate", "plan")
    assert plan["conflicts"] == []
    homes = {i["src"]: i for i in plan["items"] if i["kind"] == "run"}
    assert set(homes) == {f"logs/{sid}" for sid in V035_RUNS}
    failed_compile = homes["logs/run_1796289601485"]
    assert failed_compile["dst"].startswith("run_logs/dev/bad-component/20261203T092001Z_")
    assert "pipeline from the name in its OML file; its compile failed" in failed_compile["note"]
    assert plan["profiles"].startswith("default (or none) -> dev")
    # User outputs stay where they are.
    assert {i["src"] for i in plan["left_in_place"]} == {
        "dist",
        "exports",
        "run_1796289557702.zip",
    }


def test_v035_migrates_every_run_in_start_order_and_rolls_back_to_the_byte(v035: Path) -> None:
    before = snapshot(v035)
    applied = cli(v035, "migrate", "apply", "--yes")
    assert applied.code == 0, applied.err
    assert "the 15 migrated run(s) are kept until" in applied.out.splitlines()[-1]
    runs = ok_json(v035, "runs", "list")
    assert [r["run_id"] for r in runs] == sorted(V035_RUNS, reverse=True)
    for run in runs:
        found = (run["pipeline_slug"], run["profile"], run["status"], run.get("legacy_status"))
        assert (found, run["source"]) == (V035_RUNS[run["run_id"]], "migrated")
    assert [p for p in (v035 / "logs").rglob("*") if not p.is_dir()] == []
    # Every build has its hash and profile; the last compile runs with -p dev.
    builds = ok_json(v035, "pipelines", "list")
    assert all(b["manifest_hash"] for b in builds)
    assert {b["profile"] for b in builds} == {"dev", "prod"}
    planned = ok_json(v035, "run", "--last-compile", "-p", "dev", "--dry-run")
    assert planned["build_manifest_path"].startswith("build/pipelines/dev/orders-by-customer/")
    rolled = cli(v035, "migrate", "rollback", "--yes")
    assert rolled.code == 0, rolled.err
    assert_restored(before, v035)


def test_migrated_runs_get_a_grace_period_from_retention(v035: Path) -> None:
    assert cli(v035, "migrate", "apply", "--yes").code == 0
    # 0 days takes every finished run, but not migrated runs within their grace period.
    kept = ok_json(v035, "maintenance", "clean", "--dry-run", "--logs-days", "0")
    assert (kept["actions"], kept["migrated_kept"]) == ([], 15)
    with open(v035 / "osiris.yaml", "a", encoding="utf-8") as handle:
        handle.write("filesystem:\n  retention:\n    migrated_grace_days: 0\n")
    gone = ok_json(v035, "maintenance", "clean", "--dry-run", "--logs-days", "0")
    removed = {a["run_id"] for a in gone["actions"] if a["kind"] == "run_logs"}
    # Kept: the newest run of each pipeline/profile a latest pointer names, and the killed
    # run, whose end no file records (0 days never takes a run that may still be running).
    assert gone["protected"] == ["run_1796289617071"]
    assert removed == set(V035_RUNS) - {"run_1796289617071", "run_1796289631301"}


def test_damaged_sessions_are_migrated_as_they_are_with_a_warning(v035: Path) -> None:
    logs = v035 / "logs"
    truncated = logs / "run_1796289607579/events.jsonl"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    (logs / "run_1796289610595/events.jsonl").unlink()
    (logs / "run_1796289999999").mkdir()
    plan = ok_json(v035, "migrate", "plan")
    assert plan["conflicts"] == []
    notes = {i["src"]: i["note"] for i in plan["items"] if i["kind"] == "run"}
    assert (
        "damaged, moved as it is: logs/run_1796289607579/events.jsonl: skipped a truncated"
        in (notes["logs/run_1796289607579"])
    )
    assert "logs/run_1796289610595/events.jsonl: missing" in notes["logs/run_1796289610595"]
    assert notes["logs/run_1796289999999"].startswith(
        "no file names its pipeline: pipeline 'unknown'"
    )
    assert cli(v035, "migrate", "apply", "--yes").code == 0
    runs = {r["run_id"]: r for r in ok_json(v035, "runs", "list")}
    assert len(runs) == len(V035_RUNS) + 1
    assert runs["run_1796289999999"]["pipeline_slug"] == "unknown"


def test_v030_per_session_aiops_are_read_and_migrated_back_and_forth(tmp_path: Path) -> None:
    project = copy_upstream(V030, tmp_path / "etl")
    runs = ok_json(project, "runs", "list")
    assert len(runs) == 5 and all(r["aiop_path"] for r in runs)
    packs = ok_json(project, "aiop", "list")
    assert {p["run_id"] for p in packs} == {r["run_id"] for r in runs}
    before = snapshot(project)
    assert cli(project, "migrate", "apply", "--yes").code == 0
    assert {p["run_id"] for p in ok_json(project, "aiop", "list")} == {r["run_id"] for r in runs}
    assert cli(project, "migrate", "rollback", "--yes").code == 0
    assert_restored(before, project)


# -- 0.5.x: a moved project -----------------------------------------------------------------


def test_a_moved_057_project_is_told_its_base_path_is_gone(tmp_path: Path) -> None:
    project = copy_upstream(V057, tmp_path / "shop", base_path=None)
    line = (
        f"{project / 'osiris.yaml'}: filesystem.base_path: {ORIGINAL_ROOT[V057]} does not exist "
        f'(was the project moved?) (hint: set it to "" to use the folder holding osiris.yaml '
        f"({project}), or set OSIRIS_FILESYSTEM_BASE for one command)"
    )
    listed = cli(project, "runs", "list")
    assert (listed.code, listed.err) == (0, f"warning: {line}\n")
    for args in (("config", "validate"), ("migrate", "plan")):
        refused = cli(project, *args)
        assert (refused.code, refused.out, refused.err) == (2, "", f"error: {line}\n")
    # Rollback and finalize need only the project's folders: warned, then refused before
    # anything (their lock) is made at the old path.
    gone = ORIGINAL_ROOT[V057]
    assert not Path(gone).exists()
    for args in (("migrate", "rollback", "--yes"), ("migrate", "finalize", "--yes")):
        refused = cli(project, *args)  # the warning was given once in this process
        assert (refused.code, refused.err) == (
            2,
            f"error: {gone}: no such project folder; nothing was changed "
            "(hint: check filesystem.base_path in osiris.yaml, or set OSIRIS_FILESYSTEM_BASE)\n",
        )
    assert not Path(gone).exists()


# -- 0.5.x: reading -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_every_057_run_lists_with_its_real_status_times_and_pipeline(v057: Path, mode: str) -> None:
    runs = {r["run_id"]: r for r in ok_json(v057, "runs", "list", mode=mode)}
    assert len(runs) == 18
    for run_id, (pipeline, profile, status) in V057_FAILED.items():
        run = runs[run_id]
        assert (run["pipeline_slug"], run["profile"], run["status"]) == (pipeline, profile, status)
        assert run["indexed"] is False
    for run in runs.values():
        assert run["started_at"] and run["finished_at"] and run["duration_ms"] is not None
        assert run["status"] in ("success", "failed")
    assert (runs[V057_EU_RUN]["pipeline_slug"], runs[V057_EU_RUN]["profile"]) == (
        "orders-report-eu-v2",
        "prod",
    )
    assert runs[V057_EU_RUN]["upstream_pipeline_id"] == "orders_report_(eu)_v2"
    starts = [r["started_at"] for r in ok_json(v057, "runs", "list", mode=mode)]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize("mode", MODES)
def test_every_057_run_folder_and_pack_lists_with_its_status(v057: Path, mode: str) -> None:
    folders = ok_json(v057, "logs", "list", mode=mode)
    assert len(folders) == 18
    assert {f["status"] for f in folders} == {"success", "failed"}
    assert {f["run_id"] for f in folders if not f["indexed"]} == set(V057_FAILED)
    packs = ok_json(v057, "aiop", "list", mode=mode)
    # One pack per indexed run (an export's placeholder beside a real pack is not a second).
    assert len(packs) == len({p["run_id"] for p in packs}) == 15
    assert {p["status"] for p in packs} == {"success"}
    shown = cli(v057, "aiop", "show", V057_MISPLACED_PACK, mode=mode)
    assert shown.code == 0 and '"session_id": "run_' in shown.out


def test_a_057_build_runs_and_keeps_its_hash(v057: Path) -> None:
    ran = ok_json(v057, "run", "--pipeline", "customers-csv")
    assert ran["manifest_hash"] == (
        "ee6f35f1ee785034c732224b0dc5d19ea4cdbd3c619eda99fd8bfde5a47d7c1b"
    )
    assert ran["status"] == "success"
    assert ran["run_logs_path"].startswith("run_logs/dev/customers-csv/")


# -- 0.5.x: migrating -----------------------------------------------------------------------


def _newest_records(index: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") != "update":
            found[record["run_id"]] = record
    return found


def test_057_is_normalized_then_rolled_back_to_the_byte(v057: Path) -> None:
    listed_before = ok_json(v057, "runs", "list")
    before = snapshot(v057)
    plan = ok_json(v057, "migrate", "plan")
    assert plan["conflicts"] == []
    moved = {i["src"]: i["dst"] for i in plan["items"] if i["kind"] in ("run", "build")}
    assert moved["run_logs/run_1796290017794"].startswith(
        "run_logs/dev/bad-component/20261203T092657Z_run_1796290017794"
    )
    assert {dst.split("/")[3] for src, dst in moved.items() if src.startswith("build/")} == {
        "orders-report-eu-v2"
    }
    assert cli(v057, "migrate", "apply", "--yes").code == 0
    # Idempotent: nothing is left to normalize.
    assert ok_json(v057, "migrate", "plan")["items"] == []
    listed_after = ok_json(v057, "runs", "list")
    assert [(r["run_id"], r["status"], r["pipeline_slug"], r["profile"]) for r in listed_after] == [
        (r["run_id"], r["status"], r["pipeline_slug"], r["profile"]) for r in listed_before
    ]
    records = _newest_records(v057 / ".osiris/index/runs.jsonl")
    assert len(records) == 18
    for record in records.values():
        assert record["source"] == "migrated" and record["started_at"]
        for key in ("run_logs_path", "aiop_path", "build_manifest_path"):
            assert not (record[key] or "").startswith("/"), (record["run_id"], key)
    assert records[V057_MISPLACED_PACK]["aiop_path"].startswith("aiop/dev/mysql-orders/")
    for pointer in (v057 / ".osiris/index/latest").glob("*.txt"):
        assert not pointer.read_text("utf-8").startswith("/")
    assert not (v057 / "aiop/index").exists() and not (v057 / "aiop/latest").is_symlink()
    assert cli(v057, "migrate", "rollback", "--yes").code == 0
    assert_restored(before, v057)


@pytest.mark.slow
def test_a_v035_project_is_migrated_by_real_processes(v035: Path) -> None:
    before = snapshot(v035)
    for args in (("migrate", "apply", "--yes"), ("migrate", "rollback", "--yes")):
        done = osiris_process(*args, cwd=v035)
        assert done.code == 0, done.err
        if args[1] == "apply":
            listed = osiris_process("runs", "list", "--json", cwd=v035)
            assert [r["run_id"] for r in listed.json()] == sorted(V035_RUNS, reverse=True)
    assert_restored(before, v035)


def test_a_v035_project_read_by_several_processes_plans_and_migrates_the_same(
    v035: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osiris.compat import session_reads

    def plan() -> dict[str, Any]:
        return {k: v for k, v in ok_json(v035, "migrate", "plan").items() if k != "created_at"}

    alone = plan()
    # Its 32 sessions in four parts: three of them read by forked children.
    monkeypatch.setattr(session_reads, "PART", 4)
    monkeypatch.setattr(session_reads, "_cores", lambda: 4)
    forked = []
    real_fork = session_reads.os.fork

    def fork() -> int:
        pid = real_fork()
        forked.append(pid)
        return pid

    monkeypatch.setattr(session_reads.os, "fork", fork)
    assert plan() == alone
    assert len(forked) == 3
    applied = ok_json(v035, "migrate", "apply", "--yes")
    assert applied["ops"] == alone["steps"] == 100
    assert len(forked) == 6  # apply plans once
    runs = ok_json(v035, "runs", "list")
    assert sorted(r["run_id"] for r in runs) == sorted(V035_RUNS)
