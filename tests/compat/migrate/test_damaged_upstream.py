"""Real upstream sessions (v0.3.0, v0.3.5) and a real 0.5.7 index, damaged: one value of any
JSON shape in any file, any bytes for a whole file, or a file turned into a folder, a link
or a FIFO. The migrator plans them without a traceback and, when nothing conflicts,
applies and rolls back to the very bytes; the readers list them."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.compat.migrate import apply, plan, rollback
from tests.helpers.damage import JSON
from tests.helpers.demo import answered_or_refused, osiris
from tests.helpers.migration import contract, project_state
from tests.helpers.tree import assert_same_tree
from tests.helpers.upstream import copy_upstream

# A run that succeeded, one that did not, and a compile: each as upstream wrote it.
SESSIONS = ("run_1796289557702", "run_1796289561772", "compile_1796289554531")
FILES = ("events.jsonl", "metrics.jsonl", "status.json", "manifest.yaml")
_roots = itertools.count()


def fuzzed(examples: int) -> settings:
    # Each example copies a real tree into its own folder under the test's tmp_path.
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# These tests copy legacy trees: writing logs/ is their point.
pytestmark = pytest.mark.allow_legacy_writes


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_upstream("v035", tmp_path_factory.mktemp("upstream") / "v035")


def damaged_value(text: str, line: int, key: int, value: Any) -> str:
    """`text` (JSON lines, or one JSON or YAML mapping) with one value replaced by `value`:
    on line `line` (modulo), under its key `key` (modulo; a new key when it has none)."""
    lines = text.splitlines()
    number = line % len(lines) if lines else 0
    try:
        record = json.loads(lines[number]) if len(lines) > 1 else json.loads(text)
    except (ValueError, IndexError):
        record = None
    if not isinstance(record, dict):
        return json.dumps(value)
    names = sorted(record) or ["event"]
    record[names[key % len(names)]] = value
    if len(lines) > 1:
        lines[number] = json.dumps(record)
        return "\n".join(lines) + "\n"
    return json.dumps(record)


# How a file is damaged: a line, a key and a value for `damaged_value`, or whole bytes.
DAMAGES = st.tuples(
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=30),
    JSON,
    st.none() | st.binary(max_size=40),
)


def damage(path: Path, how: tuple[int, int, Any, bytes | None]) -> None:
    """One value replaced (`damaged_value`), or the whole file replaced by bytes."""
    line, key, value, whole = how
    if whole is None:
        path.write_text(damaged_value(path.read_text(), line, key, value))
    else:
        path.write_bytes(whole)  # what a crash or a full disk may leave


@fuzzed(40)
@given(session=st.sampled_from(SESSIONS), name=st.sampled_from(FILES), how=DAMAGES)
def test_any_value_in_an_upstream_session_is_migrated_or_refused_never_a_traceback(
    upstream: Path, tmp_path: Path, session: str, name: str, how: tuple[int, int, Any, Any]
) -> None:
    root = tmp_path / f"p{next(_roots)}"
    for folder in SESSIONS:
        shutil.copytree(upstream / "logs" / folder, root / "logs" / folder, symlinks=True)
    shutil.copy2(upstream / "osiris.yaml", root / "osiris.yaml")  # as upstream wrote it
    damaged = root / "logs" / session / name
    if not damaged.exists():
        return  # a compile session has no metrics or status
    damage(damaged, how)
    before = project_state(root)
    listed = osiris("--project", str(root), "runs", "list", "--json")  # the read fallback
    assert listed.code == 0, listed.err
    project = contract(root)
    planned = plan(project)
    if planned.conflicts:
        return
    apply(project)
    rollback(project)
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)


@pytest.fixture(scope="module")
def upstream05(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_upstream("v057", tmp_path_factory.mktemp("upstream") / "v057")


V057_FILES = (
    ".osiris/index/runs.jsonl",
    ".osiris/index/by_pipeline/mysql-orders.jsonl",
    "run_logs/dev/mysql-orders/20261203t092611z_run-000001-01m8xkkh3rzzgwxw9x820j0zjv-c91301e"
    "/events.jsonl",
)


@fuzzed(20)
@given(
    name=st.sampled_from(V057_FILES),
    line=st.integers(min_value=0, max_value=30),
    key=st.integers(min_value=0, max_value=30),
    value=JSON,
)
def test_any_value_in_an_upstream_05_index_is_migrated_or_refused_in_one_line(
    upstream05: Path, tmp_path: Path, name: str, line: int, key: int, value: Any
) -> None:
    root = Path(shutil.copytree(upstream05, tmp_path / f"q{next(_roots)}", symlinks=True))
    damaged = root / name
    damaged.write_text(damaged_value(damaged.read_text(), line, key, value))
    before = project_state(root)
    for command in (("runs", "list", "--json"), ("migrate", "plan", "--json")):
        done = osiris("--project", str(root), *command)
        answered_or_refused(done)
        if done.code == 2:
            return
    if done.json()["conflicts"]:
        return
    for command in (("migrate", "apply", "--yes"), ("migrate", "rollback", "--yes")):
        done = osiris("--project", str(root), *command)
        assert done.code == 0, (command, done.err)
    assert_same_tree(before, project_state(root), modes=True, mtimes=True)


def _make_other(path: Path, kind: str) -> None:
    """Put something other than a regular file where `path` was."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "folder":
        path.mkdir()
        (path / "inside.txt").write_text("x")
    elif kind == "link":
        path.symlink_to(path.parent.parent)  # a link to a folder, never followed
    elif kind == "dangling":
        path.symlink_to(path.parent / "gone")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "unreadable":  # (root reads it all the same)
        path.write_text('{"event": "run_start"}\n')
        path.chmod(0)


@fuzzed(30)
@given(
    tree=st.sampled_from(("v030", "v035")),
    pick=st.integers(min_value=0, max_value=200),
    kind=st.sampled_from(("folder", "link", "dangling", "fifo", "unreadable", "missing")),
)
def test_any_file_of_an_upstream_session_turned_into_something_else_migrates_and_back(
    upstream: Path, tmp_path: Path, tree: str, pick: int, kind: str
) -> None:
    root = tmp_path / f"k{next(_roots)}"
    source = upstream.parent / tree
    if not source.exists():
        copy_upstream(tree, source)
    sessions = sorted(p for p in (source / "logs").iterdir() if p.name.startswith("run_"))[:2]
    for folder in sessions:
        shutil.copytree(folder, root / "logs" / folder.name, symlinks=True)
    files = sorted(p for p in (root / "logs").rglob("*") if p.is_file())
    target = files[pick % len(files)]
    _make_other(target, kind)
    before = project_state(root)
    project = contract(root)
    try:
        planned = plan(project)
        listed = osiris("--project", str(root), "runs", "list", "--json")
        assert listed.code in (0, 2), listed.err
        assert planned.ops or planned.conflicts  # every session was seen
        if not planned.conflicts:
            apply(project)
            rollback(project)
            assert_same_tree(before, project_state(root), modes=True, mtimes=True)
    finally:
        if kind == "unreadable" and target.exists():
            target.chmod(0o644)


RUN_001 = "run-000001_01M8XKKH3RZZGWXW9X820J0ZJV"
V057_RUN_FILES = (
    "run_logs/dev/mysql-orders/20261203t092611z_run-000001-01m8xkkh3rzzgwxw9x820j0zjv-c91301e"
    "/events.jsonl",
    "run_logs/dev/mysql-orders/20261203t092611z_run-000001-01m8xkkh3rzzgwxw9x820j0zjv-c91301e"
    "/metrics.jsonl",
    "aiop/dev/mysql-orders/c91301e-c91301ebde3480730e8e06d48152878e2c206c59d28396b98126286dfdd1a010"
    "/run-000001-01m8xkkh3rzzgwxw9x820j0zjv/summary.json",
)


@fuzzed(15)
@given(name=st.sampled_from(V057_RUN_FILES), how=DAMAGES)
def test_any_value_in_an_upstream_05_run_is_shown_or_refused_in_one_line(
    upstream05: Path, tmp_path: Path, name: str, how: tuple[int, int, Any, Any]
) -> None:
    root = Path(shutil.copytree(upstream05, tmp_path / f"s{next(_roots)}", symlinks=True))
    damage(root / name, how)
    for command in (
        ("runs", "show", RUN_001),
        ("logs", "list"),
        ("logs", "show", RUN_001, "--events"),
        ("aiop", "list"),
        ("aiop", "show", RUN_001),
    ):
        answered_or_refused(osiris("--project", str(root), *command))


@fuzzed(15)
@given(name=st.sampled_from(V057_FILES[:2]), how=DAMAGES)
def test_tagging_runs_of_a_damaged_index_only_appends(
    upstream05: Path, tmp_path: Path, name: str, how: tuple[int, int, Any, Any]
) -> None:
    root = Path(shutil.copytree(upstream05, tmp_path / f"t{next(_roots)}", symlinks=True))
    damage(root / name, how)
    index = root / ".osiris/index/runs.jsonl"
    before = index.read_bytes()
    tagged = osiris(
        "--project", str(root), "pipelines", "tag", "mysql-orders", "--all", "--add", "x"
    )
    answered_or_refused(tagged)
    assert index.read_bytes().startswith(before)  # the index is append-only, damaged or not
    answered_or_refused(osiris("--project", str(root), "runs", "list", "--tag", "x", "--json"))
