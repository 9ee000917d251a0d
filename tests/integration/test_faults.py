"""Faults and hostile input, each met by a real `osiris` process on a real folder.

What is promised, and which test here holds each promise, is in docs/reliability.md. A full
disk and a read-only project are made with a small tmpfs, which needs root: under `CI=true`
those cases must run (a machine that cannot mount is a failure), elsewhere they skip.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.helpers.demo import CliResult, osiris_env, osiris_process
from tests.helpers.legacy import make_legacy_project
from tests.helpers.projects import make_orders_project
from tests.helpers.tree import assert_same_tree, snapshot
from tests.helpers.upstream import V035, copy_upstream

pytestmark = [pytest.mark.slow, pytest.mark.allow_legacy_writes]
IN_CI = os.environ.get("CI") == "true"
BOOKKEEPING = (".osiris",)  # a migration's journal, locks and index of a legacy project
ALIAS_BOMB = "\n".join(
    ["a0: &a0 [lol]", *(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 11))]
)
DEEP = "x: " + "[" * 50_000 + "]" * 50_000


def run(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> CliResult:
    return osiris_process(*args, cwd=cwd, timeout=timeout, env=env)


def one_error_line(result: CliResult) -> str:
    """The single `error:` line a refused command prints; never a traceback or a bug."""
    lines = [line for line in result.err.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    return lines[0]


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs mounted at `where` (root only: skipped elsewhere, failed under CI)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of `folder` until only `leave` bytes are free."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    filler = folder / "filler.bin"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


def index_lines_parse(project: Path) -> None:
    """Every line of every index file is a whole JSON record: nothing torn, nothing partial."""
    for path in (project / ".osiris/index").rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            assert isinstance(json.loads(line), dict), (path, line)


# -- a full disk ----------------------------------------------------------------------------


def _runs_after_a_full_disk(project: Path, ran: CliResult) -> None:
    assert ran.code in (0, 1), ran.err
    if ran.code:
        named = one_error_line(ran).split(": ")[1]
        assert "/" in named, ran.err  # names the file, then what happened
    index_lines_parse(project)
    assert run("runs", "list", "--json", cwd=project).code == 0
    again = run("run", "--last-compile", "--json", cwd=project)
    assert again.code == 0, again.err
    ids = [r["run_id"] for r in run("runs", "list", "--json", cwd=project).json()]
    assert len(ids) == len(set(ids)) and again.json()["run_id"] == ids[0]


INCREMENTAL = {"ids": {"run_id_format": ["incremental", "ulid"]}}


@pytest.mark.parametrize("leave", [0, 3_000, 12_000, 40_000, 160_000])
def test_a_full_disk_during_a_run_leaves_no_torn_record(tmp_path: Path, leave: int) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        project = make_orders_project(disk / "proj", config=INCREMENTAL)
        assert run("compile", "pipelines/orders.yaml", cwd=project).code == 0
        assert run("run", "--last-compile", cwd=project).code == 0
        filler = fill(disk, leave)
        ran = run("run", "--last-compile", cwd=project)
        filler.unlink()
        _runs_after_a_full_disk(project, ran)


def _file_size_limit(limit: int) -> None:  # in the child, before exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG instead


@pytest.mark.parametrize("limit", [1_000, 2_500, 4_000, 8_000])
def test_a_file_size_limit_during_a_run_leaves_no_torn_record(tmp_path: Path, limit: int) -> None:
    # Without root (no tmpfs), RLIMIT_FSIZE makes writes fail as a full disk does.
    project = make_orders_project(tmp_path / "proj", config=INCREMENTAL)
    assert run("compile", "pipelines/orders.yaml", cwd=project).code == 0
    for _ in range(3):
        assert run("run", "--last-compile", cwd=project).code == 0
    done = subprocess.run(
        [sys.executable, "-m", "osiris", "run", "--last-compile"],
        cwd=project,
        env=osiris_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _file_size_limit(limit),
        check=False,
    )
    _runs_after_a_full_disk(project, CliResult(done.returncode, done.stdout, done.stderr))


@pytest.mark.parametrize("leave", [4_000, 30_000, 90_000])
def test_a_full_disk_during_migrate_apply_rolls_back_exactly(tmp_path: Path, leave: int) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        project = copy_upstream(V035, disk / "proj")
        before = snapshot(project)
        filler = fill(disk, leave)
        applied = run("migrate", "apply", "--yes", cwd=project)
        assert applied.code in (0, 1), applied.err
        if applied.code:
            one_error_line(applied)
        filler.unlink()
        if applied.code:
            assert run("migrate", "apply", "--yes", cwd=project).code == 0
        assert run("migrate", "verify", cwd=project).code == 0
        index_lines_parse(project)
        assert run("migrate", "rollback", "--yes", cwd=project).code == 0
        after = snapshot(project, ignore=BOOKKEEPING)
        assert_same_tree(before, after, modes=True, mtimes=True)


def test_a_read_only_project_is_one_line_and_still_readable(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        project = make_orders_project(disk / "proj")
        assert run("run", "pipelines/orders.yaml", cwd=project).code == 0
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        refused = run("run", "pipelines/orders.yaml", cwd=project)
        assert refused.code == 2
        assert "read-only" in one_error_line(refused)
        assert run("runs", "list", cwd=project).code == 0
        assert run("logs", "list", cwd=project).code == 0


# -- kills inside steps ---------------------------------------------------------------------


def _killed(args: list[str], cwd: Path, after: float) -> int:
    """Start `osiris ARGS`, SIGKILL it `after` seconds in; its exit code (negative: killed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "osiris", *args],
        cwd=cwd,
        env=osiris_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return process.wait(timeout=after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        return process.wait()


@pytest.mark.parametrize("after", [0.6, 0.9, 1.2, 1.6, 2.2])
def test_a_migration_killed_at_any_moment_resumes_or_rolls_back_exactly(
    tmp_path: Path, after: float
) -> None:
    project = tmp_path / "proj"
    make_legacy_project(project, sessions=120, seed=7)
    (project / "osiris.yaml").write_text("{}\n")
    before = snapshot(project)
    _killed(["migrate", "apply", "--yes"], project, after)
    assert run("migrate", "apply", "--yes", cwd=project).code == 0
    assert run("migrate", "verify", cwd=project).code == 0
    _killed(["migrate", "rollback", "--yes"], project, after / 2)
    assert run("migrate", "rollback", "--yes", cwd=project).code == 0
    assert_same_tree(before, snapshot(project, ignore=BOOKKEEPING), modes=True, mtimes=True)


def test_a_clean_killed_while_removing_leaves_nothing_half_listed(tmp_path: Path) -> None:
    project = make_orders_project(tmp_path / "proj")
    ran = run("run", "pipelines/orders.yaml", "--json", cwd=project)
    old = project / ran.json()["run_logs_path"]
    for i in range(4_000):  # enough files that removing them takes a while
        (old / "artifacts" / f"part-{i:05d}.txt").write_text("x")
    newer = run("run", "pipelines/orders.yaml", "--json", cwd=project).json()["run_id"]
    _killed(["maintenance", "clean", "--logs-days", "0"], project, 0.5)
    folders = {f["run_id"] for f in run("logs", "list", "--json", cwd=project).json()}
    shown = run("runs", "show", ran.json()["run_id"], "--json", cwd=project).json()
    # Readers agree: the old run's folder is either whole or not listed at all.
    assert (ran.json()["run_id"] in folders) == shown["paths"]["run_logs"]["exists"]
    finished = run("maintenance", "clean", "--logs-days", "0", "--json", cwd=project)
    assert finished.code == 0
    assert not [p for p in old.parent.iterdir() if p.name.endswith(".removing")]
    assert newer in {f["run_id"] for f in run("logs", "list", "--json", cwd=project).json()}


# -- tampered state -------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"not a database at all", b"SQLite format 3\x00junk"])
def test_a_corrupt_or_empty_counter_database_never_restarts_run_numbers(
    tmp_path: Path, content: bytes
) -> None:
    project = make_orders_project(
        tmp_path / "proj", config={"ids": {"run_id_format": ["incremental", "ulid"]}}
    )
    for _ in range(2):
        assert run("run", "pipelines/orders.yaml", cwd=project).code == 0
    (project / ".osiris/index/counters.sqlite").write_bytes(content)
    ran = run("run", "pipelines/orders.yaml", "--json", cwd=project)
    assert ran.code == 0, ran.err
    assert ran.json()["run_id"].startswith("run-000003_")
    assert any("counters.sqlite" in w for w in ran.json()["warnings"])
    assert "internal error" not in ran.err
    assert (
        run("run", "pipelines/orders.yaml", "--json", cwd=project)
        .json()["run_id"]
        .startswith("run-000004_")
    )


def test_names_that_are_not_utf8_or_255_bytes_long_migrate_exactly(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    make_legacy_project(project, sessions=2)
    (project / "osiris.yaml").write_text("{}\n")
    logs = os.fsencode(project / "logs")
    with open(logs + b"/\xe9t\xe9.txt", "wb") as handle:
        handle.write(b"latin-1 name")
    run_dir = next(p for p in (project / "logs").iterdir() if p.name.startswith("run_"))
    with open(os.fsencode(run_dir / "artifacts") + b"/r\xe9sum\xe9.csv", "wb") as handle:
        handle.write(b"a,b\n")
    (run_dir / "artifacts" / ("n" * 251 + ".csv")).write_text("long\n")
    before = snapshot(project)
    for args in (("migrate", "plan"), ("migrate", "apply", "--yes"), ("migrate", "status")):
        done = run(*args, cwd=project)
        assert done.code == 0, (args, done.err)
    assert run("migrate", "verify", cwd=project).code == 0
    assert run("runs", "list", cwd=project).code == 0
    assert run("migrate", "rollback", "--yes", cwd=project).code == 0
    assert_same_tree(before, snapshot(project, ignore=BOOKKEEPING), modes=True, mtimes=True)


def test_fifos_and_links_to_outside_are_never_read_or_waited_on(tmp_path: Path) -> None:
    project = make_orders_project(tmp_path / "proj")
    ran = run("run", "pipelines/orders.yaml", "--json", cwd=project).json()
    run_dir = project / ran["run_logs_path"]
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (run_dir / "osiris.log").unlink()
    os.mkfifo(run_dir / "osiris.log")
    (run_dir / "metrics.jsonl").unlink()
    (run_dir / "metrics.jsonl").symlink_to(secret)
    shown = run("logs", "show", ran["run_id"], cwd=project, timeout=30)
    assert shown.code == 2 and "not a regular file" in one_error_line(shown)
    metrics = run("logs", "show", ran["run_id"], "--metrics", cwd=project, timeout=30)
    assert metrics.code == 2 and "outside" not in metrics.out
    assert run("runs", "list", cwd=project, timeout=30).code == 0
    exported = run("aiop", "export", ran["run_id"], "-o", str(tmp_path / "x.zip"), cwd=project)
    assert exported.code == 0 and b"outside" not in (tmp_path / "x.zip").read_bytes()
    # A legacy session holding a FIFO and a link is moved as it is, never read.
    legacy = tmp_path / "legacy"
    make_legacy_project(legacy, sessions=1)
    (legacy / "osiris.yaml").write_text("{}\n")
    session = next(p for p in (legacy / "logs").iterdir() if p.name.startswith("run_"))
    os.mkfifo(session / "artifacts" / "pipe")
    (session / "artifacts" / "link").symlink_to(secret)
    before = snapshot(legacy)
    assert run("migrate", "apply", "--yes", cwd=legacy, timeout=60).code == 0
    assert run("migrate", "rollback", "--yes", cwd=legacy, timeout=60).code == 0
    assert_same_tree(before, snapshot(legacy, ignore=BOOKKEEPING), modes=True, mtimes=True)


@pytest.mark.parametrize("bomb", [ALIAS_BOMB, DEEP], ids=["alias-bomb", "deep-nesting"])
def test_hostile_yaml_in_every_file_the_tool_reads_is_one_line(tmp_path: Path, bomb: str) -> None:
    project = make_orders_project(tmp_path / "proj")
    assert run("compile", "pipelines/orders.yaml", cwd=project).code == 0
    # osiris.yaml
    config = project / "osiris.yaml"
    kept = config.read_text("utf-8")
    config.write_text(bomb + "\n")
    for args in (("config", "validate"), ("runs", "list"), ("run", "--last-compile")):
        refused = run(*args, cwd=project, timeout=30)
        assert refused.code == 2 and "osiris.yaml" in one_error_line(refused)
    config.write_text(kept)
    # an OML file
    oml = project / "pipelines" / "bomb.yaml"
    oml.write_text("oml_version: '0.1.0'\nname: bomb\n" + bomb + "\nsteps: []\n")
    refused = run("compile", "pipelines/bomb.yaml", cwd=project, timeout=30)
    assert refused.code == 2 and "pipelines/bomb.yaml" in one_error_line(refused)
    # a build manifest
    manifest = next((project / "build").rglob("manifest.yaml"))
    manifest.write_text(bomb + "\n")
    refused = run("run", "--last-compile", cwd=project, timeout=30)
    assert refused.code == 2 and "manifest.yaml" in one_error_line(refused)
    # a legacy session's manifest: listed with a warning, migrated as it is
    legacy = tmp_path / "legacy"
    make_legacy_project(legacy, sessions=1)
    (legacy / "osiris.yaml").write_text("{}\n")
    session = next(p for p in (legacy / "logs").iterdir() if p.name.startswith("run_"))
    (session / "manifest.yaml").write_text(bomb + "\n")
    listed = run("runs", "list", cwd=legacy, timeout=30)
    assert listed.code == 0 and "manifest.yaml: refused" in listed.err
    planned = run("migrate", "plan", "--json", cwd=legacy, timeout=60)
    assert planned.code == 0 and json.loads(planned.out)["conflicts"] == []


def test_a_second_apply_refuses_at_once_while_one_runs(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    make_legacy_project(project, sessions=150, seed=3)
    (project / "osiris.yaml").write_text("{}\n")
    first = subprocess.Popen(
        [sys.executable, "-m", "osiris", "migrate", "apply", "--yes"],
        cwd=project,
        env=osiris_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (project / ".osiris/migrations").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = run("migrate", "apply", "--yes", cwd=project)
        if first.poll() is None:  # still running: the second met its lock and did not wait
            assert second.code == 2 and "another osiris process holds this lock" in second.err
    finally:
        assert first.wait(timeout=120) == 0
    assert yaml.safe_load((project / "osiris.yaml").read_text()) == {}


# -- a folder the user cannot write ---------------------------------------------------------


def _as_nobody() -> list[str] | None:
    """The command prefix that runs a child as user `nobody`, or None when impossible."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_project_the_user_cannot_write_is_one_line_exit_2(tmp_path: Path) -> None:
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("needs root and setpriv to run osiris as another user")
    project = make_orders_project(tmp_path / "proj")
    assert run("run", "pipelines/orders.yaml", cwd=project).code == 0
    before = snapshot(project)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        for args in (["run", "pipelines/orders.yaml"], ["run", "--last-compile"]):
            done = subprocess.run(
                [*prefix, sys.executable, "-m", "osiris", *args, "--quiet"],
                cwd=project,
                env={**osiris_env(), "HOME": str(tmp_path)},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if "Permission denied" in done.stderr and "python" in done.stderr.lower():
                pytest.skip("user nobody cannot start this interpreter")
            assert done.returncode == 2, done.stderr
            [line] = done.stderr.splitlines()
            assert line.startswith(f"error: {project}")
            assert "cannot be written" in line and "Traceback" not in done.stderr
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert_same_tree(before, snapshot(project))
