"""Ctrl-C (SIGINT) sent to a real `osiris` process: the command stops, says where it
stopped, exits 130 and leaves everything consistent and unlocked.

No test here measures speed: a stopped query that would otherwise run for hours proves the
interruption reached it (benchmarks/bench_interrupt.py measures how fast it stops).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.demo import osiris, osiris_env, osiris_process
from tests.helpers.legacy import make_legacy_project
from tests.helpers.projects import make_orders_project
from tests.helpers.tree import assert_same_tree, snapshot

pytestmark = [pytest.mark.slow, pytest.mark.allow_legacy_writes]

# A step whose query would run for hours: only an interruption ends it.
ENDLESS_OML = """\
oml_version: "0.1.0"
name: endless
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: spin
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config: {query: "SELECT count(*) AS n FROM range(1000000000000) a, input_df"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [spin]
    config: {path: output/endless.csv}
"""
INCREMENTAL = {"ids": {"run_id_format": "incremental"}}
BOUND = 60  # seconds: a liveness bound far above any stop, far below the query's hours


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def interrupt_when(args: list[str], cwd: Path, line: str) -> tuple[int, str]:
    """Start `osiris ARGS`; send SIGINT once stderr shows `line`; (exit code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "osiris", *args],
        cwd=cwd,
        env=osiris_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    assert process.stderr is not None
    for got in process.stderr:
        seen.append(got)
        if line in got:
            process.send_signal(signal.SIGINT)
            break
    try:
        rest = process.communicate(timeout=BOUND)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"osiris did not stop within {BOUND} s of Ctrl-C: {''.join(seen)}")
    return process.returncode, "".join(seen) + rest


def test_ctrl_c_in_a_running_query_records_the_run_as_interrupted(tmp_path: Path) -> None:
    project = make_orders_project(tmp_path / "proj", config=INCREMENTAL)
    (project / "pipelines/endless.yaml").write_text(ENDLESS_OML, "utf-8")
    code, err = interrupt_when(
        ["run", "pipelines/endless.yaml"], project, "step spin started (duckdb.processor"
    )
    assert code == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: run run-000001 of endless stopped by Ctrl-C")
    assert "Traceback" not in err

    [record] = jsonl(project / ".osiris/index/runs.jsonl")
    assert record["status"] == "interrupted"
    assert record["error"] == "interrupted by the user (Ctrl-C) during step spin"
    run_dir = project / record["run_logs_path"]
    events = jsonl(run_dir / "events.jsonl")
    assert [(e["event"], e.get("step_id")) for e in events] == [
        ("run_start", None),
        ("step_start", "extract-orders"),
        ("step_complete", "extract-orders"),
        ("step_start", "spin"),
        ("step_interrupted", "spin"),
        ("step_skipped", "write"),
        ("run_error", None),
        ("run_end", None),
    ]
    assert events[-1]["status"] == "interrupted"
    status = json.loads((run_dir / "status.json").read_text("utf-8"))
    assert (status["status"], status["exit_code"]) == ("interrupted", 130)
    summary = json.loads((project / record["aiop_path"] / "summary.json").read_text("utf-8"))
    assert summary["status"] == "interrupted"
    assert [s["status"] for s in summary["steps"]] == ["success", "interrupted", "skipped"]
    assert "step spin interrupted (Ctrl-C)" in (run_dir / "osiris.log").read_text("utf-8")
    assert not (project / "output").exists()

    # Nothing is left locked: the next run and the readers go straight through.
    assert osiris_process("run", "pipelines/orders.yaml", cwd=project).code == 0
    listed = osiris_process("runs", "list", "--status", "interrupted", "--json", cwd=project)
    assert [r["run_id"] for r in listed.json()] == ["run-000001"]


def test_ctrl_c_during_migrate_apply_says_how_to_resume_and_resume_finishes(
    tmp_path: Path,
) -> None:
    project = tmp_path / "legacy"
    make_legacy_project(project, sessions=4)
    (project / "osiris.yaml").write_text("{}\n")
    before = snapshot(project)
    env = {"OSIRIS_MIGRATE_KILL_AFTER_OPS": "3", "OSIRIS_MIGRATE_KILL_SIGNAL": "INT"}
    stopped = osiris_process("migrate", "apply", "--yes", cwd=project, env=env)
    assert stopped.code == 130
    last = stopped.err.strip().splitlines()[-1]
    assert last.startswith("interrupted: .osiris/migrations/")
    assert "was interrupted with 2 of " in last
    assert "osiris migrate apply" in last and "osiris migrate rollback" in last
    assert "Traceback" not in stopped.err

    resumed = osiris_process("migrate", "apply", "--yes", cwd=project)
    assert resumed.code == 0, resumed.err
    assert "Resumed and finished migration" in resumed.out
    assert osiris_process("migrate", "rollback", "--yes", cwd=project).code == 0
    assert_same_tree(before, snapshot(project, ignore=(".osiris",)))


def test_ctrl_c_during_migrate_rollback_says_how_to_finish_it(tmp_path: Path) -> None:
    project = tmp_path / "legacy"
    make_legacy_project(project, sessions=4)
    (project / "osiris.yaml").write_text("{}\n")
    assert osiris_process("migrate", "apply", "--yes", cwd=project).code == 0
    env = {"OSIRIS_MIGRATE_KILL_AFTER_OPS": "2", "OSIRIS_MIGRATE_KILL_SIGNAL": "INT"}
    stopped = osiris_process("migrate", "rollback", "--yes", cwd=project, env=env)
    assert stopped.code == 130
    last = stopped.err.strip().splitlines()[-1]
    assert "the rollback of migration" in last and "was interrupted" in last
    finished = osiris_process("migrate", "rollback", "--yes", cwd=project)
    assert finished.code == 0, finished.err


@pytest.mark.parametrize(
    ("target", "args", "line"),
    [
        (
            "osiris.core.retention.clean",
            ["maintenance", "clean"],
            "interrupted: maintenance clean stopped by Ctrl-C; a folder it was removing is "
            "hidden from every listing (hint: run `osiris maintenance clean` again to finish it)",
        ),
        (
            "osiris.compat.mode.compile_for_mode",
            ["compile", "pipelines/orders.yaml"],
            "interrupted: compile stopped by Ctrl-C; no build or pointer was changed",
        ),
    ],
    ids=["maintenance-clean", "compile"],
)
def test_ctrl_c_in_clean_and_compile_is_one_line_and_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, args: list[str], line: str
) -> None:
    # Where the Ctrl-C lands is forced (these commands are too quick to hit from outside).
    project = make_orders_project(tmp_path / "proj", config=INCREMENTAL)

    def pressed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(target, pressed)
    result = osiris("--project", str(project), *args)
    assert result.code == 130
    assert result.err.strip() == line
    assert not (project / "build").exists()
