"""A project written in `legacy` mode is fully usable by every reader in `contract` mode.

The legacy project is made by the real CLI (`OSIRIS_FS_CONTRACT=legacy`): two pipelines
compiled, three runs (one failed). Then, in contract mode, `runs`, `logs`, `aiop` and
`run --last-compile` / `--pipeline` find its items (compat.md §2), each command printing
the deprecation line once; `compat.read_fallback: false` hides them. Projects of the old
tool (every quirk), dual-mode projects and mixed projects are listed too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris.compat import fallback
from osiris.compat.fallback import DEPRECATION
from osiris.compat.legacy_layout import SessionKind
from tests.cli.test_startup import imported_by
from tests.helpers.demo import CliResult, osiris, osiris_process
from tests.helpers.legacy import ALL_QUIRKS, make_legacy_project
from tests.helpers.projects import make_orders_project
from tests.helpers.recorded import BROKEN_OML

LEGACY = {"OSIRIS_FS_CONTRACT": "legacy"}
CONFIG = "osiris.yaml"
COMPARED = ("pipeline_slug", "profile", "status", "rows_in", "rows_out", "manifest_hash")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The legacy project and what its commands reported (compiles and run records)."""
    root = make_orders_project(tmp_path_factory.mktemp("legacy") / "proj")
    (root / "pipelines" / "broken.yaml").write_text(BROKEN_OML, "utf-8")
    steps = {
        "compile_broken": (("compile", "pipelines/broken.yaml"), 0),
        "failed": (("run", "--last-compile"), 1),
        "compile_dev": (("compile", "pipelines/orders.yaml"), 0),
        "dev": (("run", "--last-compile"), 0),
        "prod": (("run", "pipelines/orders.yaml", "-p", "prod"), 0),
    }
    written = {}
    for name, (args, code) in steps.items():
        command, *rest = args
        rest = [str(root / arg) if arg.startswith("pipelines/") else arg for arg in rest]
        result = osiris("--project", str(root), command, *rest, "--json", env=LEGACY)
        assert result.code == code, result.out + result.err
        assert result.json()["fs_mode"] == "legacy"
        written[name] = result.json()
    assert not (root / ".osiris").exists() and not (root / "run_logs").exists()
    return root, written


@pytest.fixture
def project(template: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """A copy of the legacy project; osiris.yaml comes last, as the legacy-write guard
    refuses writes to `logs/` of a project in contract mode (the copy is one)."""
    source = template[0]
    root = Path(
        shutil.copytree(
            source, tmp_path / "proj", symlinks=True, ignore=shutil.ignore_patterns(CONFIG)
        )
    )
    shutil.copy2(source / CONFIG, root / CONFIG)
    return root


@pytest.fixture
def runs(template: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The legacy runs' records as the runs reported them, by name (failed, dev, prod)."""
    return {name: template[1][name] for name in ("failed", "dev", "prod")}


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    """`osiris --project P ARGS` in contract mode; each call is a new process, as in a shell."""

    def call(project: Path, *args: str) -> CliResult:
        monkeypatch.setattr(fallback, "_announced", False)
        return osiris("--project", str(project), *args)

    return call


def warned_once(result: CliResult) -> bool:
    """The deprecation line came first on stderr, and only once (reader warnings may follow)."""
    return result.err.startswith(DEPRECATION + "\n") and result.err.count(DEPRECATION) == 1


def set_config(project: Path, config: dict[str, Any]) -> None:
    (project / "osiris.yaml").write_text(yaml.safe_dump(config), "utf-8")


# -- runs -----------------------------------------------------------------------------------


def test_runs_list_shows_the_legacy_runs_as_their_runs_recorded_them(project, runs, cli) -> None:
    result = cli(project, "runs", "list", "--json")
    assert result.code == 0 and warned_once(result)
    listed = result.json()
    assert [r["run_id"] for r in listed] == [runs[n]["run_id"] for n in ("prod", "dev", "failed")]
    for name, run in runs.items():
        record = next(r for r in listed if r["run_id"] == run["run_id"])
        assert {k: record[k] for k in COMPARED} == {k: run[k] for k in COMPARED}, name
        assert (record["source"], record["run_logs_path"]) == ("legacy", run["run_logs_path"])
    assert [r["status"] for r in listed] == ["success", "success", "failed"]
    assert [r["profile"] for r in listed] == ["prod", "dev", "dev"]


def test_runs_list_table_marks_legacy_rows(project, runs, cli) -> None:
    result = cli(project, "runs", "list")
    assert result.code == 0 and warned_once(result)
    assert "source" in result.out.splitlines()[0]
    for run in runs.values():
        line = next(line for line in result.out.splitlines() if run["run_id"] in line)
        assert "legacy" in line and run["pipeline_slug"] in line


def test_runs_list_filters_legacy_runs(project, runs, cli) -> None:
    result = cli(project, "runs", "list", "--status", "failed", "--json")
    assert [r["run_id"] for r in result.json()] == [runs["failed"]["run_id"]]
    result = cli(project, "runs", "list", "--pipeline", "orders-by-country", "--limit", "1")
    assert runs["prod"]["run_id"] in result.out and runs["dev"]["run_id"] not in result.out


def test_runs_show_takes_a_prefix_and_finds_every_legacy_file(project, runs, cli) -> None:
    run_id = runs["dev"]["run_id"]
    result = cli(project, "runs", "show", run_id[:-1], "--json")
    assert result.code == 0 and warned_once(result)
    shown = result.json()
    assert (shown["run_id"], shown["source"], shown["status"]) == (run_id, "legacy", "success")
    assert {name: p["exists"] for name, p in shown["paths"].items()} == {
        "run_logs": True,
        "aiop": True,
        "build_manifest": True,
    }
    assert shown["paths"]["aiop"]["stored"] == f"logs/aiop/{run_id}/aiop.json"


# -- logs -----------------------------------------------------------------------------------


def test_logs_list_shows_the_legacy_session_folders(project, runs, cli) -> None:
    result = cli(project, "logs", "list", "--json")
    assert result.code == 0 and warned_once(result)
    folders = {f["run_id"]: f for f in result.json()}
    assert set(folders) == {r["run_id"] for r in runs.values()}
    for run in runs.values():
        folder = folders[run["run_id"]]
        assert (folder["path"], folder["source"]) == (f"logs/{run['run_id']}", "legacy")
        assert folder["status"] == run["status"]


def test_logs_show_prints_a_legacy_runs_files(project, runs, cli) -> None:
    run_id = runs["failed"]["run_id"]
    log = cli(project, "logs", "show", run_id)
    assert log.code == 0 and warned_once(log)
    assert f"run {run_id} finished: failed" in log.out
    events = cli(project, "logs", "show", run_id, "--events", "--json").json()
    assert events["path"] == f"logs/{run_id}/events.jsonl"
    assert events["lines"][0]["event"] == "run_start"
    assert events["lines"][-1] == {**events["lines"][-1], "event": "run_end", "status": "failed"}


# -- aiop -----------------------------------------------------------------------------------


def test_aiop_list_shows_the_legacy_aiops(project, runs, cli) -> None:
    result = cli(project, "aiop", "list", "--json")
    assert result.code == 0 and warned_once(result)
    packs = {p["run_id"]: p for p in result.json()}
    assert set(packs) == {r["run_id"] for r in runs.values()}
    assert all(p["source"] == "legacy" for p in packs.values())
    assert packs[runs["dev"]["run_id"]]["path"] == f"logs/aiop/{runs['dev']['run_id']}/aiop.json"


def test_aiop_show_prints_the_legacy_aiop_json(project, runs, cli) -> None:
    run_id = runs["prod"]["run_id"]
    legacy_json = project / "logs" / "aiop" / run_id / "aiop.json"
    shown = cli(project, "aiop", "show", run_id, "--json")
    assert shown.code == 0 and warned_once(shown)
    assert shown.out == legacy_json.read_text("utf-8")
    assert json.loads(shown.out)["run"]["session_id"] == run_id
    text = cli(project, "aiop", "show", run_id)
    assert text.out.splitlines()[0] == f"pack: logs/aiop/{run_id}/aiop.json (legacy)"


# -- run ------------------------------------------------------------------------------------


def test_run_last_compile_runs_the_legacy_manifest_into_the_contract(
    project, template, runs, cli
) -> None:
    pointer = json.loads((project / "logs" / ".last_compile.json").read_text("utf-8"))
    ran = cli(project, "run", "--last-compile", "--json")
    assert ran.code == 0 and warned_once(ran), ran.err
    record = ran.json()
    assert (record["fs_mode"], record["source"], record["profile"]) == (
        "contract",
        "contract",
        "prod",
    )
    assert record["build_manifest_path"] == pointer["manifest_path"]
    assert (project / record["run_logs_path"]).is_dir()
    assert record["run_logs_path"].startswith("run_logs/prod/orders-by-country/")
    # A mixed project lists newest first: the new contract run above the legacy ones.
    listed = cli(project, "runs", "list", "--json").json()
    assert [r["source"] for r in listed] == ["contract", "legacy", "legacy", "legacy"]
    assert listed[0]["run_id"] == record["run_id"]
    starts = [r["started_at"] for r in listed]
    assert starts == sorted(starts, reverse=True)


def test_run_pipeline_takes_the_newest_legacy_compile_for_the_profile(
    project, template, cli
) -> None:
    ran = cli(project, "run", "--pipeline", "orders-by-country", "-p", "dev", "--json")
    assert ran.code == 0 and warned_once(ran), ran.err
    record = ran.json()
    assert record["build_manifest_path"] == template[1]["compile_dev"]["manifest_path"]
    assert (record["fs_mode"], record["profile"]) == ("contract", "dev")
    missing = cli(project, "run", "--pipeline", "orders-by-country", "-p", "staging")
    assert missing.code == 2 and DEPRECATION not in missing.err
    assert "no build of pipeline 'orders-by-country' for profile 'staging'" in missing.err


# -- compat.read_fallback: false ------------------------------------------------------------


def test_read_fallback_false_hides_the_legacy_layout(project, cli) -> None:
    set_config(project, {"compat": {"read_fallback": False}})
    for args, empty in (
        (("runs", "list"), "No runs found."),
        (("logs", "list"), "No run-log folders found."),
        (("aiop", "list"), "No AIOP packs found."),
    ):
        result = cli(project, *args)
        assert (result.code, result.out.strip(), result.err) == (0, empty, "")
    ran = cli(project, "run", "--last-compile")
    assert ran.code == 2 and "nothing has been compiled yet" in ran.err
    assert DEPRECATION not in ran.err
    assert not (project / "run_logs").exists()


def test_without_logs_a_listing_never_loads_the_legacy_layout(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path / "proj")
    done, modules = imported_by(["--project", str(root), "runs", "list"], tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "No runs found.\n", "")
    legacy = {"osiris.compat.legacy_layout", "osiris.compat.legacy_reader", "pydantic"}
    assert "osiris.compat.fallback" in modules and not modules & legacy


def test_a_real_process_prints_the_deprecation_line_once(project) -> None:
    result = osiris_process("runs", "list", "--json", cwd=project)
    assert result.code == 0 and warned_once(result)


# -- projects of the old tool, dual mode ------------------------------------------------------


def test_a_project_of_the_old_tool_lists_every_run_and_warns_about_damage(
    tmp_path: Path, cli
) -> None:
    info = make_legacy_project(tmp_path / "proj", quirks=ALL_QUIRKS)
    set_config(info.root, {})
    result = cli(info.root, "runs", "list", "--limit", "0", "--json")
    assert result.code == 0 and warned_once(result), result.err
    run_ids = {s.session_id for s in info.of_kind(SessionKind.RUN)}
    assert {r["run_id"] for r in result.json()} == run_ids
    for damaged in (d for d in info.damaged if d.startswith("logs/run_")):
        assert f"warning: {damaged}" in result.err
    for args in (("logs", "list"), ("aiop", "list"), ("runs", "list")):
        listed = cli(info.root, *args)
        assert listed.code == 0 and warned_once(listed), listed.err
    truncated = next(d for d in info.damaged if d.endswith("events.jsonl")).split("/")[1]
    assert cli(info.root, "runs", "show", truncated).code == 0


def test_a_dual_mode_project_lists_each_run_once(tmp_path: Path, cli) -> None:
    root = make_orders_project(tmp_path / "proj", config={"compat": {"mode": "dual"}})
    run_ids = []
    for _ in range(2):
        ran = osiris("--project", str(root), "run", str(root / "pipelines/orders.yaml"), "--json")
        assert ran.code == 0, ran.err
        run_ids.append(ran.json()["run_id"])
    assert len(list((root / "logs").glob("run_*"))) == 2  # the mirrors
    for config in ({"compat": {"mode": "dual"}}, {}):
        set_config(root, config)
        for args in (("runs", "list"), ("logs", "list"), ("aiop", "list")):
            result = cli(root, *args, "--json")
            assert (result.code, result.err) == (0, "")
            assert sorted(item["run_id"] for item in result.json()) == sorted(run_ids)
            assert {item["source"] for item in result.json()} == {"contract"}
