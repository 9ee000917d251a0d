"""`osiris migrate …` through the real entry point: output, --json, confirmations, exit codes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from osiris.cli import migrate as migrate_cli
from osiris.cli.main import main
from osiris.compat.migrate import engine, finalizing
from osiris.core.lock import project_lock
from tests.helpers.demo import CliResult, osiris
from tests.helpers.legacy import LegacyProjectInfo, make_legacy_project
from tests.helpers.tree import assert_same_tree, snapshot

# These tests build legacy projects and migrate them: writing logs/ is their point.
pytestmark = pytest.mark.allow_legacy_writes

COMMANDS = ("plan", "apply", "rollback", "status", "verify", "finalize")
NOTHING = "Nothing to migrate: the project already uses the contract layout.\n"


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, LegacyProjectInfo]:
    root = tmp_path / "proj"
    info = make_legacy_project(root, sessions=2, quirks={"aiop_folders", "unknown_items"})
    (root / "osiris.yaml").write_text("filesystem:\n  profiles:\n    default: dev\n")
    return root, info


@pytest.fixture
def root(legacy: tuple[Path, LegacyProjectInfo]) -> Path:
    return legacy[0]


def migrate(root: Path, *args: str) -> CliResult:
    return osiris("--project", str(root), "migrate", *args)


def refused_leaving(root: Path, folder: Path, args: list[str], line: str) -> None:
    """`osiris migrate ARGS` exits 2 with the error `line`, and `folder` is as it was."""
    before = snapshot(folder)
    refused = migrate(root, *args)
    assert (refused.code, refused.err) == (2, f"error: {line}\n")
    assert_same_tree(before, snapshot(folder), modes=True, mtimes=True)


def test_every_migrate_command_is_registered() -> None:
    top = osiris("--help")
    assert top.code == 0 and "migrate" in top.out
    for command in COMMANDS:
        shown = osiris("migrate", command, "--help")
        assert shown.code == 0, command


def test_plan_prints_a_summary_and_saves_json(root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    shown = migrate(root, "plan")
    assert shown.code == 0, shown.err
    for text in (
        "Migration plan",
        "run sessions",
        "run_logs",
        "Left in place:",
        "steps, fingerprint",
    ):
        assert text in shown.out
    saved = tmp_path / "plan.json"
    as_json = migrate(root, "plan", "--json", "--out", str(saved))
    data = as_json.json()
    assert (
        data["format"] == "reviewed-1"
        and data["conflicts"] == []
        and data["summary"]["run"]["items"] == 2
    )
    assert json.loads(saved.read_text())["fingerprint"] == data["fingerprint"]
    assert_same_tree(before, snapshot(root), modes=True, mtimes=True)


def test_a_metric_line_of_another_shape_is_planned_not_a_traceback(root: Path) -> None:
    session = next(p for p in sorted((root / "logs").iterdir()) if p.name.startswith("run_"))
    with open(session / "metrics.jsonl", "a") as handle:
        handle.write('{"metric": ["rows_read"], "value": 5}\n')
    planned = migrate(root, "plan", "--json")
    assert planned.code == 0, planned.err
    assert f"logs/{session.name}" in {i["src"] for i in planned.json()["items"]}


def test_apply_needs_a_confirmation_when_not_interactive(root: Path) -> None:
    before = snapshot(root)
    refused = migrate(root, "apply")
    assert refused.code == 2
    assert refused.err.strip() == (
        "error: this command changes the project and needs a confirmation "
        "(hint: pass --yes to confirm without a prompt)"
    )
    assert_same_tree(before, snapshot(root), modes=True, mtimes=True)


@pytest.mark.parametrize(("answer", "applied"), [("n\n", False), ("y\n", True)])
def test_apply_asks_on_a_terminal(
    root: Path, monkeypatch: pytest.MonkeyPatch, answer: str, applied: bool
) -> None:
    monkeypatch.setattr(migrate_cli, "_interactive", lambda: True)
    with CliRunner().isolation(input=answer) as (out, _, _):
        with pytest.raises(SystemExit) as done:
            main(["--project", str(root), "migrate", "apply"])
        printed = out.getvalue().decode()
    assert done.value.code == 0
    assert "Apply these" in printed
    assert ("Applied migration" in printed) == applied
    assert ("Nothing was changed." in printed) != applied
    assert (root / "run_logs").exists() == applied


def test_apply_then_apply_again(root: Path) -> None:
    done = migrate(root, "apply", "--yes")
    assert (done.code, done.err) == (0, "")
    lines = done.out.splitlines()
    assert lines[-2].startswith("Applied migration ")
    # What retention would do next: migrated runs are old, so they get a grace period.
    assert lines[-1].startswith("Retention: `osiris maintenance clean` would remove nothing now;")
    assert "migrated run(s) are kept until" in lines[-1]
    # The plan apply shows ends with its size, not with a hint to run apply.
    assert re.fullmatch(r"\d+ steps, fingerprint [0-9a-f]{12}\.", lines[-3])
    again = migrate(root, "apply", "--yes")
    assert (again.code, again.out, again.err) == (0, NOTHING, "")


def test_apply_json_says_which_mode_it_used(root: Path) -> None:
    done = migrate(root, "apply", "--yes", "--json")
    data = done.json()
    assert data["fs_mode"] == "contract" and data["ops"] == data["applied"] > 0
    assert data["migration_id"] and data["resumed"] is False
    again = migrate(root, "apply", "--yes", "--json").json()
    assert again["migration_id"] is None and again["fs_mode"] == "contract"


@pytest.mark.parametrize("mode", ["dual", "legacy"])
def test_apply_warns_that_writers_keep_writing_the_legacy_layout(root: Path, mode: str) -> None:
    warning = (
        f"warning: compat.mode is {mode} (from env OSIRIS_FS_CONTRACT): compile and run keep "
        "writing the legacy layout after this migration; set it to contract first\n"
    )
    args = ("--project", str(root), "migrate", "apply", "--yes", "--json")
    done = osiris(*args, env={"OSIRIS_FS_CONTRACT": mode})
    assert (done.code, done.err) == (0, warning)
    assert done.json()["fs_mode"] == mode and done.json()["ops"] > 0
    with open(root / "osiris.yaml", "a") as config:
        config.write(f"compat:\n  mode: {mode}\n")
    again = migrate(root, "apply", "--yes")
    assert again.err == warning.replace("env OSIRIS_FS_CONTRACT", "file")
    assert again.out == NOTHING


def test_a_saved_plan_is_applied_when_nothing_changed(root: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert migrate(root, "plan", "--out", str(saved)).code == 0
    reviewed = json.loads(saved.read_text())
    applied = migrate(root, "apply", "--plan", str(saved), "--yes", "--json")
    assert applied.code == 0, applied.err
    result = applied.json()
    assert result["ops"] == reviewed["steps"] == result["applied"]
    kept = root / ".osiris/migrations" / result["migration_id"] / "plan.json"
    assert json.loads(kept.read_text())["fingerprint"] == reviewed["fingerprint"]


def test_a_migration_s_own_plan_file_is_not_a_saved_plan(root: Path) -> None:
    applied = migrate(root, "apply", "--yes", "--json")
    kept = root / ".osiris/migrations" / applied.json()["migration_id"] / "plan.json"
    assert migrate(root, "rollback", "--yes").code == 0
    refused_leaving(
        root,
        root,
        ["apply", "--plan", str(kept), "--yes"],
        f"{kept}: not a plan saved by `osiris migrate plan --out` of this version "
        "(hint: make a new one with `osiris migrate plan --out FILE`)",
    )


def test_a_stale_saved_plan_is_refused(root: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert migrate(root, "plan", "--out", str(saved)).code == 0
    (root / "logs" / "notes.txt").write_text("changed")
    refused = migrate(root, "apply", "--plan", str(saved), "--yes")
    assert refused.code == 2
    assert refused.err.startswith("error: the project changed since the plan was made: ")
    assert "(hint: run `osiris migrate plan` again)" in refused.err


def test_conflicts_refuse_apply(root: Path) -> None:
    (root / ".osiris/sessions/a1b2c3d4").mkdir(parents=True)
    refused = migrate(root, "apply", "--yes")
    assert refused.code == 2
    assert refused.err.strip() == (
        "error: 1 conflict(s): .osiris/sessions/a1b2c3d4: already exists; the migrator never "
        "overwrites (hint: resolve them and run `osiris migrate plan` again; nothing was changed)"
    )
    assert "1 conflict(s); apply refuses until resolved:" in refused.out


def test_status_check_gates_ci(root: Path) -> None:
    before = migrate(root, "status", "--check")
    assert before.code == 1 and "Legacy items still present" in before.out
    assert migrate(root, "apply", "--yes").code == 0
    after = migrate(root, "status", "--check")
    assert after.code == 0 and "No legacy items left." in after.out and "applied" in after.out
    data = migrate(root, "status", "--json").json()
    assert data["fs_mode"] == "contract" and data["work_left"] is False
    assert [m["state"] for m in data["migrations"]] == ["applied"]


def test_verify_reports_differences(root: Path) -> None:
    assert migrate(root, "apply", "--yes").code == 0
    checked = migrate(root, "verify")
    assert checked.code == 0 and "no differences" in checked.out
    summary = next(root.glob("aiop/*/*/*/*/summary.json"))
    summary.write_text("{}")
    found = migrate(root, "verify")
    assert found.code == 1
    assert f"{summary.relative_to(root).as_posix()}: differs" in found.out
    assert found.err.startswith("error: migration ") and "1 difference(s)" in found.err


def test_rollback_restores_refuses_and_forces(root: Path) -> None:
    assert migrate(root, "apply", "--yes").code == 0
    run = next(root.glob("run_logs/*/*/*"))
    (run / "late.txt").write_text("a later run")
    refused = migrate(root, "rollback", "--yes")
    assert refused.code == 2 and "would lose changes made after it" in refused.err
    forced = migrate(root, "rollback", "--yes", "--force")
    assert forced.code == 0, forced.err
    # The run folder goes back whole, with the later file in it.
    legacy = root / "logs" / run.name.split("_", 1)[1].rsplit("-", 1)[0]
    assert f"Kept as they are (changed after the migration):\n  logs/{legacy.name}\n" in forced.out
    assert (legacy / "late.txt").read_text() == "a later run"
    again = migrate(root, "rollback", "--yes", "--json").json()
    assert again["already_rolled_back"] is True and again["fs_mode"] == "contract"
    assert migrate(root, "status", "--check").code == 1


def test_rollback_puts_everything_back(root: Path) -> None:
    before = snapshot(root, ignore=(".osiris",))
    assert migrate(root, "apply", "--yes").code == 0
    undone = migrate(root, "rollback", "--yes")
    assert undone.code == 0 and undone.out.startswith("Rolled back migration ")
    assert_same_tree(before, snapshot(root, ignore=(".osiris",)), modes=True, mtimes=True)


def test_a_mistake_elsewhere_in_osiris_yaml_does_not_block_a_rollback(root: Path) -> None:
    # A rollback takes only the project's folders from osiris.yaml; the keys it needs
    # are still checked, by the full configuration, which names the file and the key.
    before = snapshot(root, ignore=(".osiris", "osiris.yaml"))
    assert migrate(root, "apply", "--yes").code == 0
    config = root / "osiris.yaml"
    config.write_text(config.read_text() + "ids:\n  run_id_format: [bogus]\n")
    assert migrate(root, "status").code == 2
    undone = migrate(root, "rollback", "--yes")
    assert undone.code == 0 and undone.out.startswith("Rolled back migration "), undone.err
    assert_same_tree(before, snapshot(root, ignore=(".osiris", "osiris.yaml")), mtimes=True)
    config.write_text("filesystem: {index_dir: ../outside}\n")
    refused = migrate(root, "rollback", "--yes")
    assert refused.code == 2 and "osiris.yaml" in refused.err and "index_dir" in refused.err
    assert "Traceback" not in refused.err


def test_finalize_and_trash(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trashed: list[str] = []
    monkeypatch.setattr(finalizing, "send2trash", trashed.append)
    assert migrate(root, "apply", "--yes").code == 0
    refused = migrate(root, "finalize")
    assert refused.code == 2 and "needs a confirmation" in refused.err
    done = migrate(root, "finalize", "--trash", "--yes", "--json").json()
    assert done["fs_mode"] == "contract" and done["trashed"] == [".osiris/legacy"]
    assert trashed == [str(root / ".osiris" / "legacy")]
    assert not (root / "logs").exists() and not (root / "compiled").exists()
    assert migrate(root, "rollback", "--yes").code == 2


def test_finalize_never_trashes_a_run_session_that_was_archived_not_migrated(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trashed: list[str] = []
    monkeypatch.setattr(finalizing, "send2trash", trashed.append)
    assert migrate(root, "apply", "--yes").code == 0
    # A plan of an earlier version could archive a run it could not place.
    plan_file = next((root / ".osiris/migrations").glob("*/plan.json"))
    plan = json.loads(plan_file.read_text("utf-8"))
    kept = ".osiris/legacy/logs/run_1759838400001"
    plan["items"].append(
        {"kind": "archive", "src": "logs/run_1759838400001", "dst": kept, "size": 0, "note": "x"}
    )
    plan_file.write_text(json.dumps(plan), "utf-8")
    refused = migrate(root, "finalize", "--trash", "--yes")
    assert (refused.code, refused.out, trashed) == (2, "", [])
    assert refused.err == (
        f"error: --trash would discard 1 run session(s) that were archived, not migrated: {kept} "
        "(hint: move them out of .osiris/legacy/ first, or finalize without --trash)\n"
    )
    assert plan_file.exists()  # nothing was finalized
    assert migrate(root, "finalize", "--yes").code == 0


def test_an_unfinished_migration_blocks_plan_and_apply_resumes_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "kill", lambda pid, sig: (_ for _ in ()).throw(KeyboardInterrupt))
    killed = osiris("--project", str(root), "migrate", "apply", "--yes", env={engine.KILL_ENV: "4"})
    assert killed.code == 130
    blocked = migrate(root, "plan")
    assert blocked.code == 2
    assert blocked.err.startswith("error: .osiris/migrations/")
    assert blocked.err.strip().endswith(
        "(hint: run `osiris migrate apply` to resume it, or `osiris migrate rollback` to undo it)"
    )
    resumed = migrate(root, "apply", "--yes")
    assert resumed.code == 0 and resumed.out.startswith("Resumed and finished migration ")


def test_a_busy_project_lock_is_refused(root: Path) -> None:
    with project_lock(root / ".osiris", wait=False):
        refused = migrate(root, "apply", "--yes")
    assert refused.code == 2 and "another osiris process holds this lock" in refused.err


def test_a_forced_rollback_sets_aside_pointers_to_builds_it_moved_back(root: Path) -> None:
    assert migrate(root, "apply", "--yes").code == 0
    pointer = root / ".osiris/index/last_compile.txt"
    build = next(p for p in (root / "build").rglob("manifest.yaml"))
    # Written after the migration (another compile of a migrated build's pipeline).
    pointer.write_text(f"{build.relative_to(root)}\nabc\nprod\n")
    assert migrate(root, "rollback", "--yes").code == 2
    forced = migrate(root, "rollback", "--yes", "--force", "--json")
    assert forced.code == 0
    dropped = forced.json()["dropped_pointers"]
    assert len(dropped) == 1 and dropped[0].startswith(".osiris/index/last_compile.txt (named ")
    assert not pointer.exists()
    kept = next((root / ".osiris/legacy/rollback-leftovers").rglob("last_compile.txt"))
    assert kept.read_text() == f"{build.relative_to(root)}\nabc\nprod\n"


def test_a_plan_is_saved_over_nothing_but_a_plan_saved_before(root: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    assert migrate(root, "plan", "--out", str(saved)).code == 0
    first = json.loads(saved.read_text())
    assert migrate(root, "plan", "--out", str(saved)).code == 0  # a plan made again
    assert json.loads(saved.read_text())["fingerprint"] == first["fingerprint"]
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    applied = migrate(root, "apply", "--yes", "--json")
    own_plan = root / ".osiris/migrations" / applied.json()["migration_id"] / "plan.json"
    assert migrate(root, "rollback", "--yes").code == 0
    link = tmp_path / "link.json"
    link.symlink_to(saved)
    for taken in (notes, own_plan, link):
        refused_leaving(
            root,
            tmp_path,
            ["plan", "--out", str(taken)],
            f"{taken}: exists and is not a plan saved by `osiris migrate plan --out`; never "
            "overwritten (hint: name another file, or move this one away first)",
        )


def test_a_plan_is_not_saved_into_a_folder_that_does_not_exist(root: Path, tmp_path: Path) -> None:
    refused_leaving(
        root,
        tmp_path,
        ["plan", "--out", str(tmp_path / "plnas" / "plan.json")],
        f"{tmp_path / 'plnas'}: no such folder to save the plan in "
        "(hint: create it first, or name another file)",
    )
