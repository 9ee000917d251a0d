"""`osiris aiop list | show | export` on real runs, including a pack rebuilt from its logs."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.helpers.demo import osiris
from tests.helpers.projects import make_orders_project
from tests.helpers.recorded import RUNNING, start_running_run

PACK_FILES = [
    "annex/errors.ndjson",
    "annex/events.ndjson",
    "annex/metrics.ndjson",
    "run-card.md",
    "summary.json",
]


@pytest.fixture
def out_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def aiop(project: Path, *args: str):
    return osiris("--project", str(project), "aiop", *args)


def pack_dir(project: Path, run_id: str) -> Path:
    record = osiris("--project", str(project), "runs", "show", run_id, "--json").json()
    return project / record["aiop_path"]


def test_an_empty_project_has_no_packs(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path / "empty")
    assert aiop(root, "list").out == "No AIOP packs found.\n"
    assert aiop(root, "list", "--json").json() == []


def test_list_shows_every_pack_newest_first(project: Path, ids: dict[str, str]) -> None:
    data = aiop(project, "list", "--json").json()
    assert [(d["run_id"], d["status"], d["indexed"]) for d in data] == [
        (ids["failed"], "failed", True),
        (ids["prod"], "success", True),
        (ids["dev"], "success", True),
    ]
    assert data[1]["path"] == str(pack_dir(project, ids["prod"]).relative_to(project))
    table = aiop(project, "list").out.splitlines()
    assert [line.split()[0] for line in table[2:]] == [ids["failed"], ids["prod"], ids["dev"]]


def test_list_filters(project: Path, ids: dict[str, str]) -> None:
    prod = aiop(project, "list", "--profile", "prod", "--json").json()
    assert [d["run_id"] for d in prod] == [ids["prod"]]
    broken = aiop(project, "list", "--pipeline", "broken-orders", "--json").json()
    assert [d["run_id"] for d in broken] == [ids["failed"]]


def test_show_prints_summary_json(project: Path, ids: dict[str, str]) -> None:
    summary = pack_dir(project, ids["failed"]) / "summary.json"
    result = aiop(project, "show", ids["failed"], "--json")
    assert (result.code, result.out, result.err) == (0, summary.read_text("utf-8"), "")
    assert result.json()["errors"][0]["step_id"] == "extract-orders"
    human = aiop(project, "show", ids["failed"][:-2]).out.splitlines(keepends=True)
    assert human[0] == f"pack: {summary.parent.relative_to(project)}\n"
    assert "".join(human[1:]) == summary.read_text("utf-8")


def test_show_of_a_damaged_pack_names_the_file_and_where(
    project: Path, ids: dict[str, str]
) -> None:
    folder = pack_dir(project, ids["dev"])
    (folder / "summary.json").write_text('{"run_id": "x",\n  broken', "utf-8")
    result = aiop(project, "show", ids["dev"])
    assert result.code == 0
    assert result.err == (
        f"warning: {folder.relative_to(project)}: the pack's JSON is damaged (line 2, column 3: "
        "Expecting property name enclosed in double quotes); shown as it is\n"
    )
    assert result.out.endswith('{"run_id": "x",\n  broken\n')


def test_show_a_missing_pack_points_to_export(project: Path, ids: dict[str, str]) -> None:
    folder = pack_dir(project, ids["dev"])
    shutil.rmtree(folder)
    result = aiop(project, "show", ids["dev"])
    assert result.code == 2
    assert result.err == (
        f"error: {folder.relative_to(project)}: run '{ids['dev']}' has no AIOP pack "
        f"(hint: osiris aiop export {ids['dev']} regenerates it from the run logs)\n"
    )
    unknown = aiop(project, "show", "nope")
    assert unknown.code == 2 and "(hint: osiris runs list shows run ids)" in unknown.err


def test_export_writes_a_zip_of_the_pack(project: Path, ids: dict[str, str], out_dir: Path) -> None:
    result = aiop(project, "export", ids["prod"])
    zip_path = out_dir / f"{ids['prod']}-aiop.zip"
    assert (result.code, result.err) == (0, "")
    assert result.out == f"exported 5 files of run {ids['prod']} to {zip_path}\n"
    folder = pack_dir(project, ids["prod"])
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [f"{ids['prod']}/{name}" for name in PACK_FILES]
        for name in PACK_FILES:
            assert archive.read(f"{ids['prod']}/{name}") == (folder / name).read_bytes()


def test_export_to_a_named_file_and_never_over_one(
    project: Path, ids: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "pack.zip"
    data = aiop(project, "export", ids["dev"], "-o", str(target), "--json").json()
    assert data == {
        "run_id": ids["dev"],
        "zip": str(target),
        "pack": str(pack_dir(project, ids["dev"]).relative_to(project)),
        "regenerated": False,
        "files": PACK_FILES,
    }
    first = target.read_bytes()
    again = aiop(project, "export", ids["dev"], "--output", str(target))
    assert again.code == 2
    assert again.err == (
        f"error: {target}: already exists; an export never overwrites a file "
        "(hint: choose another -o FILE or remove the old one)\n"
    )
    assert target.read_bytes() == first


def test_a_missing_pack_is_rebuilt_from_the_logs_and_kept(
    project: Path, ids: dict[str, str], out_dir: Path
) -> None:
    folder = pack_dir(project, ids["failed"])
    original = {name: (folder / name).read_bytes() for name in PACK_FILES}
    shutil.rmtree(folder)
    result = aiop(project, "export", ids["failed"])
    assert result.code == 0
    assert result.out.splitlines()[0] == (
        f"rebuilt the missing pack from the run logs into {folder.relative_to(project)}"
    )
    # The pack is a pure function of the run's events and metrics: the same bytes again.
    assert {name: (folder / name).read_bytes() for name in PACK_FILES} == original
    with zipfile.ZipFile(out_dir / f"{ids['failed']}-aiop.zip") as archive:
        assert archive.read(f"{ids['failed']}/summary.json") == original["summary.json"]
    assert aiop(project, "show", ids["failed"], "--json").json()["status"] == "failed"


def test_export_with_neither_pack_nor_logs_exits_2(
    project: Path, ids: dict[str, str], out_dir: Path
) -> None:
    shutil.rmtree(pack_dir(project, ids["dev"]))
    record = osiris("--project", str(project), "runs", "show", ids["dev"], "--json").json()
    shutil.rmtree(project / record["run_logs_path"])
    result = aiop(project, "export", ids["dev"])
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: run '{ids['dev']}' has neither an AIOP pack nor run logs "
        "(hint: osiris aiop list and osiris logs list show what is on disk)\n"
    )
    assert list(out_dir.iterdir()) == []


def test_export_of_a_running_run_waits_for_its_end(project: Path, out_dir: Path) -> None:
    folder = start_running_run(project)
    result = aiop(project, "export", RUNNING)
    assert result.code == 2
    assert result.err == (
        f"error: {folder}: run '{RUNNING}' has not ended (no run_end event), so its pack "
        "cannot be built (hint: export it once the run has finished)\n"
    )
    assert not (project / "aiop" / "dev" / "orders-by-country" / RUNNING).exists()
    assert list(out_dir.iterdir()) == []


def test_export_of_an_ambiguous_prefix_exits_2(project: Path, ids: dict[str, str]) -> None:
    result = aiop(project, "export", ids["dev"][:2])
    assert result.code == 2 and "matches 3 runs" in result.err


def test_export_zip_is_the_same_bytes_every_time(
    project: Path, ids: dict[str, str], tmp_path: Path
) -> None:
    aiop(project, "export", ids["prod"], "-o", str(tmp_path / "a.zip"))
    aiop(project, "export", ids["prod"], "-o", str(tmp_path / "b.zip"))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        summary = json.loads(archive.read(f"{ids['prod']}/summary.json"))
    assert summary["run_id"] == ids["prod"]
