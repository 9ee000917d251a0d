"""Retention on aged synthetic projects (pyfakefs): the plan, its application, what survives."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from osiris.core.fs_config import build_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.retention import (
    ANNEX,
    RUN_LOGS,
    RetentionPolicy,
    clean,
    plan_retention,
)
from osiris.core.run_index import RunIndexWriter, RunRecord, utc_now_iso
from tests.helpers.tree import diff_trees, snapshot

NOW = datetime(2025, 10, 20, 12, 0, tzinfo=timezone.utc)
HASH = "3f9a" * 16
SHORT = HASH[:7]
POLICY = RetentionPolicy(run_logs_days=7, aiop_keep_runs=3, annex_days=14)


@dataclass(frozen=True)
class Run:
    run_id: str
    run_dir: Path
    pack_dir: Path


def ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def make_contract(base: Path, retention: dict[str, int] | None = None) -> FilesystemContract:
    config, _ = build_config(
        {"filesystem": {"retention": retention or {}}}, config_file=None, env={}
    )
    return FilesystemContract(config, base)


def age(path: Path, moment: datetime) -> None:
    """Set the mtime of `path` and everything below it (links themselves, not targets)."""
    stamp = moment.timestamp()
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (stamp, stamp), follow_symlinks=False)
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def make_run(
    contract: FilesystemContract,
    run_id: str,
    *,
    days: float,
    slug: str = "orders",
    profile: str | None = "dev",
    indexed: bool = True,
    run_end: bool = True,
    pack: bool = True,
    now: datetime = NOW,
) -> Run:
    """A run finished `days` before `now`: run folder, AIOP pack with annex, index record."""
    finished = ago(days, now)
    started = finished - timedelta(minutes=1)
    run_dir = contract.run_logs_root(profile) / slug / f"20251001T000000Z_{run_id}-{SHORT}"
    pack_dir = contract.aiop_root(profile) / slug / f"{SHORT}-{HASH}" / run_id
    run_dir.mkdir(parents=True)
    events = [
        {
            "ts": utc_now_iso(started),
            "event": "run_start",
            "run_id": run_id,
            "pipeline_slug": slug,
            "profile": profile,
            "manifest_hash": HASH,
        },
    ]
    if run_end:
        events.append({"ts": utc_now_iso(finished), "event": "run_end", "status": "success"})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run_dir / "osiris.log").write_text("x" * 1000)
    (run_dir / "artifacts").mkdir()
    age(run_dir, finished)
    if pack:
        (pack_dir / ANNEX).mkdir(parents=True)
        summary = {
            "run_id": run_id,
            "pipeline_slug": slug,
            "profile": profile,
            "started_at": utc_now_iso(started),
            "completed_at": utc_now_iso(finished),
        }
        (pack_dir / "summary.json").write_text(json.dumps(summary))
        (pack_dir / "run-card.md").write_text(f"# Run {run_id}\n")
        (pack_dir / ANNEX / "events.ndjson").write_text("y" * 500)
        age(pack_dir, finished)
    if indexed:
        RunIndexWriter(contract.index_dir).append(
            RunRecord(
                run_id=run_id,
                pipeline_slug=slug,
                profile=profile,
                manifest_hash=HASH,
                started_at=utc_now_iso(started),
                finished_at=utc_now_iso(finished),
                status="success",
                run_logs_path=contract.relative(run_dir),
                aiop_path=contract.relative(pack_dir),
            )
        )
    return Run(run_id, run_dir, pack_dir)


def pointer(contract: FilesystemContract, slug: str, profile: str | None) -> None:
    manifest = contract.manifest_path(slug, HASH, profile)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("pipeline: {}\n")
    age(manifest.parent, ago(400))
    RunIndexWriter(contract.index_dir).write_pointer(
        slug, contract.relative(manifest), HASH, profile
    )


@pytest.fixture
def contract(fs: Any) -> FilesystemContract:
    base = Path("/proj")
    base.mkdir()
    return make_contract(base)


@pytest.fixture
def aged(contract: FilesystemContract) -> dict[str, Run]:
    """orders/dev: five runs 1..30 days old; users/prod: two old runs; both pointed at."""
    runs = {
        name: make_run(contract, f"o-{name}", days=days)
        for name, days in (("d30", 30), ("d20", 20), ("d10", 10), ("d5", 5), ("d1", 1))
    }
    runs["u40"] = make_run(contract, "u-d40", days=40, slug="users", profile="prod")
    runs["u20"] = make_run(contract, "u-d20", days=20, slug="users", profile="prod")
    pointer(contract, "orders", "dev")
    pointer(contract, "users", "prod")
    return runs


def actions_of(plan: Any) -> list[tuple[str, str]]:
    return [(a.kind, a.run_id) for a in plan.actions]


def test_the_plan_lists_exactly_the_old_run_logs_and_annexes(
    contract: FilesystemContract, aged: dict[str, Run]
) -> None:
    plan = plan_retention(contract, POLICY, now=NOW)
    assert actions_of(plan) == [
        (RUN_LOGS, "o-d10"),
        (RUN_LOGS, "o-d20"),
        (RUN_LOGS, "o-d30"),
        (RUN_LOGS, "u-d40"),
        (ANNEX, "o-d20"),
        (ANNEX, "o-d30"),
        (ANNEX, "u-d40"),
    ]
    assert plan.protected == ("o-d1", "u-d20")
    by_path = {a.path: a for a in plan.actions}
    d20 = by_path[aged["d20"].pack_dir / ANNEX]
    assert d20.reason == (
        "finished 20.0 days ago (> 14 days); beyond the newest 3 runs of orders/dev"
    )
    assert d20.size == 500 and not d20.is_link
    d10 = by_path[aged["d10"].run_dir]
    assert d10.reason == "finished 10.0 days ago (> 7 days)"
    assert d10.size == len(aged["d10"].run_dir.joinpath("events.jsonl").read_bytes()) + 1000
    assert plan.total_bytes == sum(a.size for a in plan.actions)
    assert d10.to_dict(contract.base_path) == {
        "kind": RUN_LOGS,
        "path": contract.relative(aged["d10"].run_dir),
        "run_id": "o-d10",
        "pipeline_slug": "orders",
        "profile": "dev",
        "reason": "finished 10.0 days ago (> 7 days)",
        "bytes": d10.size,
        "is_link": False,
    }


def test_a_dry_run_touches_nothing(contract: FilesystemContract, aged: dict[str, Run]) -> None:
    before = snapshot(contract.base_path)
    report = clean(contract, POLICY, dry_run=True, now=NOW)
    assert report.dry_run and report.removed == () and len(report.plan.actions) == 7
    assert not diff_trees(before, snapshot(contract.base_path), mtimes=True)
    assert report.to_dict()["bytes_freed"] == 0


def test_apply_removes_exactly_the_planned_paths_and_a_second_run_finds_nothing(
    contract: FilesystemContract, aged: dict[str, Run]
) -> None:
    before = snapshot(contract.base_path)
    planned = plan_retention(contract, POLICY, now=NOW)
    report = clean(contract, POLICY, now=NOW)
    assert report.removed == planned.actions and report.errors == ()
    assert report.bytes_freed == planned.total_bytes
    diff = diff_trees(before, snapshot(contract.base_path))
    assert diff.added == () and diff.changed == {}
    top = sorted({p for p in diff.removed if not any(p.startswith(q + "/") for q in diff.removed)})
    assert top == sorted(contract.relative(a.path) for a in planned.actions)
    assert plan_retention(contract, POLICY, now=NOW).actions == ()
    second = clean(contract, POLICY, now=NOW)
    assert second.removed == () and second.to_dict()["actions"] == []


def test_build_summaries_run_cards_the_index_and_pointed_runs_survive(
    contract: FilesystemContract, aged: dict[str, Run]
) -> None:
    index_before = snapshot(contract.index_dir)
    build_before = snapshot(contract.build_dir)
    # Even a policy of one day, one kept pack and one-day annexes keeps these.
    clean(contract, RetentionPolicy(1, 1, 1), now=NOW)
    assert not diff_trees(index_before, snapshot(contract.index_dir), mtimes=True)
    assert not diff_trees(build_before, snapshot(contract.build_dir), mtimes=True)
    for run in aged.values():
        assert (run.pack_dir / "summary.json").is_file()
        assert (run.pack_dir / "run-card.md").is_file()
    for protected in ("d1", "u20"):
        assert (aged[protected].run_dir / "events.jsonl").is_file()
        assert (aged[protected].pack_dir / ANNEX / "events.ndjson").is_file()
    assert not (aged["d5"].run_dir).exists() and not (aged["d5"].pack_dir / ANNEX).exists()


def test_without_a_pointer_the_newest_run_is_not_protected(contract: FilesystemContract) -> None:
    only = make_run(contract, "lonely", days=30)
    plan = plan_retention(contract, POLICY, now=NOW)
    assert [a.path for a in plan.actions] == [only.run_dir, only.pack_dir / ANNEX]
    assert plan.protected == ()


def test_a_pointer_protects_only_its_profile(contract: FilesystemContract) -> None:
    make_run(contract, "dev-old", days=30)
    make_run(contract, "prod-old", days=30, profile="prod")
    pointer(contract, "orders", "prod")
    plan = plan_retention(contract, RetentionPolicy(7, 0, None), now=NOW)
    assert actions_of(plan) == [(RUN_LOGS, "dev-old")]


def test_none_disables_each_rule(contract: FilesystemContract, aged: dict[str, Run]) -> None:
    assert plan_retention(contract, RetentionPolicy(None, 0, None), now=NOW).actions == ()
    logs_only = plan_retention(contract, RetentionPolicy(7, 0, None), now=NOW)
    assert {a.kind for a in logs_only.actions} == {RUN_LOGS}
    keep_only = plan_retention(contract, RetentionPolicy(None, 3, None), now=NOW)
    assert actions_of(keep_only) == [(ANNEX, "o-d20"), (ANNEX, "o-d30")]
    annex_age_only = plan_retention(contract, RetentionPolicy(None, 0, 14), now=NOW)
    assert actions_of(annex_age_only) == [(ANNEX, "o-d20"), (ANNEX, "o-d30"), (ANNEX, "u-d40")]


def test_zero_days_takes_every_finished_run_but_the_protected_newest(
    contract: FilesystemContract, aged: dict[str, Run]
) -> None:
    plan = plan_retention(contract, RetentionPolicy(0, 0, None), now=NOW)
    removed = {run_id for kind, run_id in actions_of(plan) if kind == RUN_LOGS}
    assert removed == {run.run_id for run in aged.values()} - set(plan.protected)


def test_finish_time_falls_back_to_the_run_files_then_mtime(
    contract: FilesystemContract,
) -> None:
    by_events = make_run(contract, "by-events", days=9, indexed=False, pack=False)
    age(by_events.run_dir, NOW)  # a recent mtime: only events.jsonl tells the age
    crashed = make_run(contract, "crashed", days=60, indexed=False, run_end=False, pack=False)
    running = make_run(contract, "running", days=0.01, indexed=False, run_end=False, pack=False)
    plan = plan_retention(contract, POLICY, now=NOW)
    assert [a.run_id for a in plan.actions] == ["by-events", "crashed"]
    assert running.run_dir.exists()
    assert crashed.run_dir in [a.path for a in plan.actions]


def test_an_old_folder_without_run_files_is_not_a_run(contract: FilesystemContract) -> None:
    stray = contract.run_logs_dir / "dev" / "orders" / "notes"
    stray.mkdir(parents=True)
    (stray / "todo.txt").write_text("keep me")
    age(stray, ago(100))
    assert plan_retention(contract, POLICY, now=NOW).actions == ()


def test_an_incomplete_pack_is_left_alone(contract: FilesystemContract) -> None:
    partial = contract.aiop_root("dev") / "orders" / f"{SHORT}-{HASH}" / "being-written"
    (partial / ANNEX).mkdir(parents=True)
    age(partial, ago(100))
    assert plan_retention(contract, POLICY, now=NOW).actions == ()


def test_links_are_removed_as_links_and_their_targets_survive(
    contract: FilesystemContract,
) -> None:
    outside = Path("/elsewhere/big-run")
    outside.mkdir(parents=True)
    (outside / "events.jsonl").write_text('{"event": "run_start"}\n')
    (outside / "data.bin").write_bytes(b"z" * 4096)
    linked_dir = contract.run_logs_root("dev") / "orders" / "20251001T000000Z_linked-3f9a3f9"
    linked_dir.parent.mkdir(parents=True)
    linked_dir.symlink_to(outside, target_is_directory=True)
    RunIndexWriter(contract.index_dir).append(
        RunRecord(
            run_id="linked",
            pipeline_slug="orders",
            profile="dev",
            started_at=utc_now_iso(ago(30)),
            finished_at=utc_now_iso(ago(30)),
            status="success",
            run_logs_path=contract.relative(linked_dir),
        )
    )
    real = make_run(contract, "real", days=30, pack=False)
    secret = Path("/elsewhere/secret.txt")
    secret.write_text("do not delete")
    (real.run_dir / "artifacts" / "secret-link").symlink_to(secret)
    (real.run_dir / "artifacts" / "dir-link").symlink_to(outside, target_is_directory=True)
    pack = make_run(contract, "annex-linked", days=30, slug="users")
    annex_target = Path("/elsewhere/annex")
    annex_target.mkdir()
    (annex_target / "keep.ndjson").write_text("{}\n")
    os.rename(pack.pack_dir / ANNEX, pack.pack_dir / "annex-moved")
    (pack.pack_dir / ANNEX).symlink_to(annex_target, target_is_directory=True)
    plan = plan_retention(contract, POLICY, now=NOW)
    links = {a.run_id: a for a in plan.actions if a.is_link}
    assert set(links) == {"linked", "annex-linked"}
    assert links["linked"].size == len(str(outside))
    report = clean(contract, POLICY, now=NOW)
    assert report.errors == ()
    assert not os.path.lexists(linked_dir) and not real.run_dir.exists()
    assert not os.path.lexists(pack.pack_dir / ANNEX)
    assert (outside / "data.bin").read_bytes() == b"z" * 4096
    assert secret.read_text() == "do not delete"
    assert (annex_target / "keep.ndjson").is_file()
    assert (pack.pack_dir / "summary.json").is_file()


def test_trash_moves_folders_to_the_os_trash(
    contract: FilesystemContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    from send2trash import plat_other

    home = Path("/home/tester")
    (home / ".local/share").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", b"/home/tester/.local/share")
    monkeypatch.setattr(plat_other, "HOMETRASH_B", b"/home/tester/.local/share/Trash")
    old = make_run(contract, "old", days=30, pack=False)
    report = clean(contract, POLICY, trash=True, now=NOW)
    assert [a.run_id for a in report.removed] == ["old"] and report.trash
    assert not old.run_dir.exists()
    trashed = home / ".local/share/Trash/files" / old.run_dir.name
    assert (trashed / "osiris.log").read_text() == "x" * 1000


def test_a_failed_removal_is_reported_and_the_rest_goes_on(
    contract: FilesystemContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_run(contract, "first", days=30, pack=False)
    second = make_run(contract, "second", days=20, pack=False)
    plan = plan_retention(contract, POLICY, now=NOW)
    real_rmtree = shutil.rmtree

    tomb = first.run_dir.with_name(f".{first.run_dir.name}.removing")

    def refuse_first(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path) == tomb:
            raise PermissionError(13, "Permission denied")
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr("osiris.core.retention.shutil.rmtree", refuse_first)
    progress: list[tuple[int, int]] = []
    removed, errors = plan.apply(progress=lambda done, total: progress.append((done, total)))
    assert [a.run_id for a in removed] == ["second"] and not second.run_dir.exists()
    assert errors == [f"{contract.relative(first.run_dir)}: Permission denied"]
    assert progress == [(1, 2), (2, 2)]
    # What could not be removed was renamed first: no reader lists a half-removed run,
    # and the next clean finishes it.
    assert not first.run_dir.exists() and tomb.is_dir()
    monkeypatch.undo()
    again = plan_retention(contract, POLICY, now=NOW)
    assert [(a.path, a.reason) for a in again.actions] == [
        (tomb, "left half-removed by an interrupted clean")
    ]
    assert again.apply() == (list(again.actions), []) and not tomb.exists()


def test_an_annex_left_half_removed_is_found_in_its_pack_and_finished(
    contract: FilesystemContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make_run(contract, "old", days=30)
    real_rmtree = shutil.rmtree
    tomb = old.pack_dir / f".{ANNEX}.removing"

    def refuse_annex(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path) == tomb:
            raise PermissionError(13, "Permission denied")
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr("osiris.core.retention.shutil.rmtree", refuse_annex)
    plan_retention(contract, POLICY, now=NOW).apply()
    assert tomb.is_dir() and not (old.pack_dir / ANNEX).exists()
    monkeypatch.undo()
    again = plan_retention(contract, POLICY, now=NOW)
    assert [(a.kind, a.path, a.reason) for a in again.actions] == [
        (ANNEX, tomb, "left half-removed by an interrupted clean")
    ]
    again.apply()
    assert not tomb.exists() and (old.pack_dir / "summary.json").is_file()


def test_a_path_gone_since_the_plan_counts_as_removed(contract: FilesystemContract) -> None:
    old = make_run(contract, "old", days=30, pack=False)
    plan = plan_retention(contract, POLICY, now=NOW)
    shutil.rmtree(old.run_dir)
    removed, errors = plan.apply()
    assert [a.run_id for a in removed] == ["old"] and errors == []


def test_the_policy_comes_from_the_configuration_with_overrides(fs: Any) -> None:
    contract = make_contract(
        Path("/p"), {"run_logs_days": 3, "aiop_keep_runs_per_pipeline": 9, "annex_keep_days": 0}
    )
    # 0 in osiris.yaml turns an age rule off; 0 given on the command line takes every run.
    assert RetentionPolicy.from_contract(contract) == RetentionPolicy(3, 9, None, 30)
    assert RetentionPolicy.from_contract(contract, run_logs_days=0, annex_days=5) == (
        RetentionPolicy(0, 9, 5, 30)
    )
    assert RetentionPolicy.from_contract(make_contract(Path("/q"))).to_dict() == {
        "run_logs_days": 7,
        "aiop_keep_runs_per_pipeline": 200,
        "annex_keep_days": 14,
        "migrated_grace_days": 30,
    }


def _migrate(contract: FilesystemContract, run: Run, when: datetime) -> None:
    """Restate `run` as a migration appends it, the migration folder written at `when`."""
    RunIndexWriter(contract.index_dir).append(
        RunRecord(
            run_id=run.run_id,
            pipeline_slug="orders",
            profile="dev",
            status="success",
            started_at=utc_now_iso(ago(91)),
            finished_at=utc_now_iso(ago(90)),
            run_logs_path=contract.relative(run.run_dir),
            aiop_path=contract.relative(run.pack_dir),
            source="migrated",
        )
    )
    folder = contract.migrations_dir / "20251015T000000.000Z-abcdef12"
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder, (when.timestamp(), when.timestamp()))


@pytest.mark.parametrize(
    ("migrated_days_ago", "kept"),
    [(5, True), (29.9, True), (30.1, False)],
)
def test_migrated_runs_are_kept_for_the_grace_days_after_the_migration(
    contract: FilesystemContract, migrated_days_ago: float, kept: bool
) -> None:
    old = make_run(contract, "old", days=90)
    make_run(contract, "newest", days=1)
    _migrate(contract, old, ago(migrated_days_ago))
    policy = RetentionPolicy(7, 0, 14, migrated_grace_days=30)
    plan = plan_retention(contract, policy, now=NOW)
    assert (actions_of(plan) == []) is kept
    if kept:
        assert plan.migrated_kept == ("old",)
        assert plan.grace_until == ago(migrated_days_ago) + timedelta(days=30)
    else:
        assert actions_of(plan) == [(RUN_LOGS, "old"), (ANNEX, "old")]


def test_without_a_grace_period_migrated_runs_age_like_any_other(
    contract: FilesystemContract,
) -> None:
    old = make_run(contract, "old", days=90)
    _migrate(contract, old, ago(1))
    plan = plan_retention(contract, RetentionPolicy(7, 0, None, 0), now=NOW)
    assert actions_of(plan) == [(RUN_LOGS, "old")]


def test_an_index_path_outside_the_project_is_never_removed(
    contract: FilesystemContract,
) -> None:
    outside = Path("/elsewhere/victim")
    outside.mkdir(parents=True)
    (outside / "events.jsonl").write_text('{"event": "run_start"}\n')
    RunIndexWriter(contract.index_dir).append(
        RunRecord(
            run_id="tampered",
            pipeline_slug="orders",
            profile="dev",
            started_at=utc_now_iso(ago(90)),
            finished_at=utc_now_iso(ago(90)),
            status="success",
            run_logs_path=str(outside),
            aiop_path="../../elsewhere/victim",
        )
    )
    plan = plan_retention(contract, RetentionPolicy(0, 0, 0), now=NOW)
    assert plan.actions == ()
    clean(contract, RetentionPolicy(0, 0, 0), now=NOW)
    assert (outside / "events.jsonl").exists()


# -- upper-case run ids and the exact boundaries ----------------------------------------------


def test_upper_case_run_ids_keep_the_newest_protected_run(contract: FilesystemContract) -> None:
    # Other versions index upper-case ids: protection compares ids case-blind, so the
    # pointed pipeline's newest run survives even "take everything" settings.
    old = make_run(contract, "RUN-01OLD", days=30)
    newest = make_run(contract, "RUN-02NEW", days=20)
    pointer(contract, "orders", "dev")
    plan = plan_retention(contract, RetentionPolicy(0, 1, 0), now=NOW)
    assert plan.protected == ("RUN-02NEW",)
    removed = {a.path for a in plan.actions}
    assert removed == {old.run_dir, old.pack_dir / ANNEX}
    assert newest.run_dir not in removed and newest.pack_dir / ANNEX not in removed
    clean(contract, RetentionPolicy(0, 1, 0), now=NOW)
    assert newest.run_dir.is_dir() and (newest.pack_dir / ANNEX).is_dir()
    assert not old.run_dir.exists()


@pytest.mark.parametrize(
    ("days_old", "removed"),
    [(7 - 1 / 86400, False), (7, False), (7 + 1 / 86400, True)],
    ids=["a second younger", "exactly 7 days", "a second older"],
)
def test_run_logs_older_than_the_days_go_exactly_at_the_boundary(
    contract: FilesystemContract, days_old: float, removed: bool
) -> None:
    run = make_run(contract, "edge", days=days_old, pack=False)
    make_run(contract, "newer", days=0.5, pack=False)
    plan = plan_retention(contract, RetentionPolicy(7, 0, None), now=NOW)
    assert (run.run_dir in {a.path for a in plan.actions}) is removed


@pytest.mark.parametrize(
    ("days_old", "removed"),
    [(14, False), (14 + 1 / 86400, True)],
    ids=["exactly 14 days", "a second older"],
)
def test_annexes_older_than_the_days_go_exactly_at_the_boundary(
    contract: FilesystemContract, days_old: float, removed: bool
) -> None:
    run = make_run(contract, "edge", days=days_old)
    plan = plan_retention(contract, RetentionPolicy(None, 0, 14), now=NOW)
    assert (run.pack_dir / ANNEX in {a.path for a in plan.actions}) is removed


@pytest.mark.parametrize(("runs", "removed"), [(3, 0), (4, 1)])
def test_keep_runs_keeps_exactly_that_many_annexes(
    contract: FilesystemContract, runs: int, removed: int
) -> None:
    made = [make_run(contract, f"r{n}", days=n + 1) for n in range(runs)]
    plan = plan_retention(contract, RetentionPolicy(None, 3, None), now=NOW)
    assert [a.run_id for a in plan.actions] == [r.run_id for r in made[3:]]
    assert len(plan.actions) == removed
