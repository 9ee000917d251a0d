"""`osiris logs list | show` on real runs, an unindexed running run, and `--follow`."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.demo import osiris
from tests.helpers.projects import make_orders_project
from tests.helpers.recorded import RUNNING, start_running_run

WIDE = {"COLUMNS": "300"}


def logs(project: Path, *args: str, env: dict[str, str] | None = None):
    return osiris("--project", str(project), "logs", *args, env=env)


def run_dir(project: Path, run_id: str) -> Path:
    record = osiris("--project", str(project), "runs", "show", run_id, "--json").json()
    return project / record["run_logs_path"]


# -- list -----------------------------------------------------------------------------------


def test_an_empty_project_has_no_run_log_folders(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path / "empty")
    result = logs(root, "list")
    assert (result.code, result.out, result.err) == (0, "No run-log folders found.\n", "")
    assert logs(root, "list", "--json").json() == []


def test_list_includes_folders_the_index_does_not_know(project: Path, ids: dict[str, str]) -> None:
    start_running_run(project)
    data = logs(project, "list", "--json").json()
    assert [(d["run_id"], d["status"], d["indexed"]) for d in data] == [
        (ids["failed"], "failed", True),
        (ids["prod"], "success", True),
        (ids["dev"], "success", True),
        (RUNNING, "unfinished", False),
    ]
    assert data[2]["tags"] == ["nightly"]
    assert data[2]["path"] == str(run_dir(project, ids["dev"]).relative_to(project))


def test_list_table(project: Path, ids: dict[str, str]) -> None:
    start_running_run(project)
    result = logs(project, "list", env=WIDE)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "run", "id", "pipeline", "profile", "status", "started", "indexed", "path",
    ]  # fmt: skip
    assert lines[2].split()[:4] == [ids["failed"], "broken-orders", "dev", "failed"]
    assert lines[-1].split()[:7] == [
        RUNNING, "orders-by-country", "dev", "unfinished", "2026-01-01", "00:00:00", "no",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--pipeline", "orders-by-country"], ["prod", "dev"]),
        (["--profile", "prod"], ["prod"]),
        (["--pipeline", "broken-orders", "--profile", "prod"], []),
    ],
)
def test_list_filters(
    project: Path, ids: dict[str, str], args: list[str], expected: list[str]
) -> None:
    data = logs(project, "list", *args, "--json").json()
    assert [d["run_id"] for d in data] == [ids[name] for name in expected]


# -- show -----------------------------------------------------------------------------------


def test_show_prints_osiris_log_by_default(project: Path, ids: dict[str, str]) -> None:
    text = (run_dir(project, ids["dev"]) / "osiris.log").read_text("utf-8")
    result = logs(project, "show", ids["dev"])
    assert (result.code, result.out, result.err) == (0, text, "")
    assert logs(project, "show", ids["dev"], "--osiris-log").out == text
    assert f"run {ids['dev']} finished: success in " in text.splitlines()[-1]


def test_show_tail(project: Path, ids: dict[str, str]) -> None:
    lines = (run_dir(project, ids["dev"]) / "osiris.log").read_text("utf-8").splitlines()
    assert logs(project, "show", ids["dev"], "--tail", "2").out.splitlines() == lines[-2:]
    assert logs(project, "show", ids["dev"], "--tail", "0").out == ""
    assert logs(project, "show", ids["dev"], "--tail", "-1").code == 2


def test_show_events_and_metrics(project: Path, ids: dict[str, str]) -> None:
    folder = run_dir(project, ids["failed"])
    events = logs(project, "show", ids["failed"], "--events")
    assert events.out == (folder / "events.jsonl").read_text("utf-8")
    data = logs(project, "show", ids["failed"], "--events", "--tail", "1", "--json").json()
    assert data["run_id"] == ids["failed"]
    assert data["path"] == str((folder / "events.jsonl").relative_to(project))
    assert [(e["event"], e["status"]) for e in data["lines"]] == [("run_end", "failed")]
    metrics = logs(project, "show", ids["dev"], "--metrics", "--json").json()
    assert {m["metric"] for m in metrics["lines"]} == {
        "rows_read",
        "rows_written",
        "step_duration_ms",
    }


def test_damaged_event_lines_are_shown_with_a_warning_naming_the_file(
    project: Path, ids: dict[str, str]
) -> None:
    record = osiris("--project", str(project), "runs", "show", ids["dev"], "--json").json()
    events = project / record["run_logs_path"] / "events.jsonl"
    with open(events, "a", encoding="utf-8") as handle:
        handle.write("not json at all\n")
    result = logs(project, "show", ids["dev"], "--events")
    assert result.code == 0
    assert result.err == (
        f"warning: {events.relative_to(project)}: 1 damaged line(s), shown as they are\n"
    )
    assert result.out.endswith("not json at all\n")


def test_show_osiris_log_json_keeps_lines_as_text(project: Path, ids: dict[str, str]) -> None:
    data = logs(project, "show", ids["prod"], "--json").json()
    text = (run_dir(project, ids["prod"]) / "osiris.log").read_text("utf-8")
    assert data["lines"] == text.splitlines()


def test_show_accepts_a_prefix(project: Path, ids: dict[str, str]) -> None:
    assert logs(project, "show", ids["prod"][:-3]).out == logs(project, "show", ids["prod"]).out


def test_show_errors_are_one_line_exit_2(project: Path, ids: dict[str, str]) -> None:
    unknown = logs(project, "show", "nope")
    assert (unknown.code, unknown.out) == (2, "")
    assert unknown.err == (
        "error: no run 'nope' in the index or any run-log folder "
        "(hint: osiris runs list shows run ids)\n"
    )
    ambiguous = logs(project, "show", ids["dev"][:3])
    assert ambiguous.code == 2 and "matches 3 runs" in ambiguous.err
    folder = run_dir(project, ids["dev"])
    shutil.rmtree(folder)
    gone = logs(project, "show", ids["dev"])
    assert gone.code == 2
    assert gone.err == (
        f"error: {folder.relative_to(project)}: the run logs of run '{ids['dev']}' are gone "
        "(hint: retention removes run logs after filesystem.retention.run_logs_days days)\n"
    )


def test_show_of_a_running_run_not_yet_indexed(project: Path) -> None:
    start_running_run(project)
    assert logs(project, "show", "2026-01-01T00").out == "started\n"


def test_follow_prints_new_lines_until_the_run_ends(project: Path) -> None:
    folder = start_running_run(project)

    def finish_the_run() -> None:
        for i in range(3):
            time.sleep(0.15)
            with open(folder / "osiris.log", "a", encoding="utf-8") as handle:
                handle.write(f"step {i} done\n")
        with open(folder / "osiris.log", "a", encoding="utf-8") as handle:
            handle.write("finished: success\n")
        with open(folder / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": "run_end", "status": "success"}) + "\n")

    writer = threading.Thread(target=finish_the_run)
    writer.start()
    # Returning at all proves --follow ended at run_end (it would wait forever otherwise).
    result = logs(project, "show", RUNNING, "--follow")
    writer.join()
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        "started",
        "step 0 done",
        "step 1 done",
        "step 2 done",
        "finished: success",
    ]


def test_follow_events_with_tail(project: Path) -> None:
    folder = start_running_run(project)

    def finish_the_run() -> None:
        time.sleep(0.2)
        with open(folder / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": "run_end", "status": "failed"}) + "\n")

    writer = threading.Thread(target=finish_the_run)
    writer.start()
    result = logs(project, "show", RUNNING, "--events", "--tail", "0", "--follow")
    writer.join()
    assert [json.loads(line)["event"] for line in result.out.splitlines()] == ["run_end"]


def test_follow_of_a_finished_run_just_prints_it(project: Path, ids: dict[str, str]) -> None:
    result = logs(project, "show", ids["prod"], "--follow")
    assert result.code == 0 and result.out == logs(project, "show", ids["prod"]).out


def test_follow_and_json_exclude_each_other(project: Path, ids: dict[str, str]) -> None:
    result = logs(project, "show", ids["prod"], "--follow", "--json")
    assert result.code == 2
    assert result.err == (
        "error: --follow prints lines as they come (hint: drop --json or --follow)\n"
    )
