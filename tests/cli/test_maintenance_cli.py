"""`osiris maintenance clean` on a project with a real fresh run and aged synthetic runs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from tests.core.test_retention import Run, make_run, pointer
from tests.helpers.demo import osiris
from tests.helpers.projects import make_orders_project
from tests.helpers.tree import diff_trees, snapshot

WIDE = {"COLUMNS": "300"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_orders_project(tmp_path / "proj")


def contract_of(root: Path) -> FilesystemContract:
    return FilesystemContract.from_resolved(load_config(root, env={}))


@pytest.fixture
def aged(project: Path) -> dict[str, Run]:
    """A real run of orders-by-country, plus users/dev runs finished 1, 10, 20 and 30 days ago."""
    ran = osiris("--project", str(project), "run", str(project / "pipelines/orders.yaml"))
    assert ran.code == 0, ran.err
    contract = contract_of(project)
    now = datetime.now(timezone.utc)
    runs = {
        f"d{days}": make_run(contract, f"u-d{days}", days=days, slug="users", now=now)
        for days in (30, 20, 10, 1)
    }
    pointer(contract, "users", "dev")
    return runs


def clean(project: Path, *args: str, env: dict[str, str] | None = None):
    return osiris("--project", str(project), "maintenance", "clean", *args, env=env)


def test_an_empty_project_has_nothing_to_clean(project: Path) -> None:
    result = clean(project)
    assert (result.code, result.out, result.err) == (0, "Nothing to clean.\n", "")
    data = clean(project, "--json").json()
    assert (data["actions"], data["removed"], data["bytes_freed"]) == ([], 0, 0)
    assert data["policy"] == {
        "run_logs_days": 7,
        "aiop_keep_runs_per_pipeline": 200,
        "annex_keep_days": 14,
        "migrated_grace_days": 30,
    }


def test_dry_run_lists_the_actions_and_removes_nothing(project: Path, aged: dict[str, Run]) -> None:
    before = snapshot(project)
    result = clean(project, "--dry-run", env=WIDE)
    assert (result.code, result.err) == (0, "")
    assert diff_trees(before, snapshot(project)) == diff_trees(before, before)
    lines = result.out.splitlines()
    assert lines[0].split() == ["path", "kind", "size", "reason"]
    listed = [line.split()[0] for line in lines[2:-1]]
    assert listed == [
        str(aged["d10"].run_dir.relative_to(project)),
        str(aged["d20"].run_dir.relative_to(project)),
        str(aged["d30"].run_dir.relative_to(project)),
        str((aged["d20"].pack_dir / "annex").relative_to(project)),
        str((aged["d30"].pack_dir / "annex").relative_to(project)),
    ]
    assert lines[-1].startswith("Dry run: removing 5 paths would free ")


@pytest.mark.parametrize("columns", ["60", "100"])
def test_a_narrow_terminal_never_cuts_a_path(
    project: Path, aged: dict[str, Run], columns: str
) -> None:
    result = clean(project, "--dry-run", env={"COLUMNS": columns})
    assert result.code == 0
    wanted = [aged[d].run_dir.relative_to(project).as_posix() for d in ("d10", "d20", "d30")]
    lines = result.out.splitlines()
    for path in wanted:  # each whole, on a line of its own
        assert path in lines
        reason = lines[lines.index(path) + 1]
        assert reason.startswith("    run_logs  ") and "days ago (> 7 days)" in reason


def test_dry_run_json(project: Path, aged: dict[str, Run]) -> None:
    data = clean(project, "--dry-run", "--json").json()
    assert data["dry_run"] is True and data["removed"] == 0
    assert [(a["kind"], a["run_id"]) for a in data["actions"]] == [
        ("run_logs", "u-d10"),
        ("run_logs", "u-d20"),
        ("run_logs", "u-d30"),
        ("annex", "u-d20"),
        ("annex", "u-d30"),
    ]
    assert data["bytes"] == sum(a["bytes"] for a in data["actions"]) > 0
    real = osiris("--project", str(project), "runs", "list", "--pipeline", "orders-by-country")
    real_id = real.out.splitlines()[2].split()[0]
    # The newest run of each pointed-at pipeline: users/dev (pointer) and the real run (compile).
    assert data["protected"] == sorted([real_id, "u-d1"])


def test_clean_removes_them_and_a_second_run_finds_nothing(
    project: Path, aged: dict[str, Run]
) -> None:
    planned = clean(project, "--dry-run", "--json").json()
    result = clean(project, env=WIDE)
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[-1].startswith("Removed 5 paths, freed ")
    for action in planned["actions"]:
        assert not (project / action["path"]).exists()
    assert aged["d1"].run_dir.exists() and (aged["d30"].pack_dir / "summary.json").exists()
    again = clean(project)
    assert (again.code, again.out) == (0, "Nothing to clean.\n")


def test_the_fresh_real_run_and_the_index_survive(project: Path, aged: dict[str, Run]) -> None:
    index_before = snapshot(project / ".osiris" / "index")
    build_before = snapshot(project / "build")
    result = clean(project, "--logs-days", "1", "--keep-runs", "1", "--annex-days", "1", "--json")
    assert result.code == 0
    assert not diff_trees(index_before, snapshot(project / ".osiris" / "index"), mtimes=True)
    assert not diff_trees(build_before, snapshot(project / "build"), mtimes=True)
    real = osiris("--project", str(project), "runs", "list", "--pipeline", "orders-by-country")
    run_id = real.out.splitlines()[2].split()[0]
    shown = osiris("--project", str(project), "runs", "show", run_id, "--json").json()
    assert all(p["exists"] for p in shown["paths"].values())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # 0 days: every finished run, but the newest one a latest pointer protects.
        (
            ["--logs-days", "0", "--keep-runs", "0", "--annex-days", "9999"],
            ["u-d10", "u-d20", "u-d30"],
        ),
        (["--logs-days", "15", "--keep-runs", "0", "--annex-days", "9999"], ["u-d20", "u-d30"]),
        (["--logs-days", "9999", "--keep-runs", "2", "--annex-days", "9999"], ["u-d20", "u-d30"]),
        (["--logs-days", "9999", "--keep-runs", "0", "--annex-days", "25"], ["u-d30"]),
    ],
)
def test_options_override_the_configured_policy(
    project: Path, aged: dict[str, Run], args: list[str], expected: list[str]
) -> None:
    data = clean(project, "--dry-run", "--json", *args).json()
    assert [a["run_id"] for a in data["actions"]] == expected


def test_the_policy_comes_from_osiris_yaml_and_the_environment(
    project: Path, aged: dict[str, Run]
) -> None:
    (project / "osiris.yaml").write_text(
        "filesystem:\n  retention: {run_logs_days: 25, annex_keep_days: 0}\n", "utf-8"
    )
    data = clean(project, "--dry-run", "--json").json()
    assert data["policy"]["run_logs_days"] == 25
    assert [a["run_id"] for a in data["actions"]] == ["u-d30"]
    from_env = clean(
        project, "--dry-run", "--json", env={"OSIRIS_RETENTION_RUN_LOGS_DAYS": "15"}
    ).json()
    assert [a["run_id"] for a in from_env["actions"]] == ["u-d20", "u-d30"]


def test_trash_sends_folders_to_the_os_trash(
    project: Path, aged: dict[str, Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from send2trash import plat_other

    share = tmp_path / "home" / ".local" / "share"
    share.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", bytes(share))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", bytes(share / "Trash"))
    result = clean(project, "--trash", "--annex-days", "9999", "--keep-runs", "0")
    assert result.code == 0
    assert "(to the OS trash)" in result.out.splitlines()[-1]
    trashed = sorted(p.name for p in (share / "Trash" / "files").iterdir())
    assert trashed == sorted(aged[d].run_dir.name for d in ("d10", "d20", "d30"))


def test_json_output_is_pure_json_even_with_many_actions(project: Path) -> None:
    contract = contract_of(project)
    now = datetime.now(timezone.utc)
    for i in range(25):
        make_run(contract, f"old-{i:02d}", days=30, slug="users", pack=False, now=now)
    result = clean(project, "--json")
    assert result.err == ""
    assert result.json()["removed"] == 25


@pytest.mark.parametrize("option", ["--logs-days", "--keep-runs", "--annex-days"])
def test_a_negative_limit_exits_2(project: Path, option: str) -> None:
    result = clean(project, option, "-1")
    assert result.code == 2 and "-1 is not in the range x>=0" in result.err
