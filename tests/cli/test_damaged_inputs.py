"""Real configuration and pipeline files with one value of any YAML/JSON shape at any key:
every command answers, or refuses with one `error:` line and exit 2, never a traceback."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.damage import JSON, VALUES, replaced
from tests.helpers.demo import answered_or_refused, osiris
from tests.helpers.tree import snapshot
from tests.helpers.upstream import copy_upstream

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
TEMPLATES = Path(__file__).resolve().parents[2] / "osiris" / "templates"
CONFIGS = (
    TEMPLATES / "osiris.yaml",
    UPSTREAM / "v035" / "osiris.yaml",
    UPSTREAM / "v057" / "osiris.yaml",
)
PIPELINES = (
    *sorted((UPSTREAM / "v035" / "pipelines").glob("*.yaml")),
    *sorted((UPSTREAM / "v057" / "pipelines").glob("*.yaml")),
)
_roots = itertools.count()
FUZZED = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZED
@given(source=st.sampled_from(CONFIGS), pick=st.integers(0, 400), value=VALUES)
def test_any_value_in_osiris_yaml_is_read_or_refused_in_one_line(
    tmp_path: Path, source: Path, pick: int, value: Any
) -> None:
    root = tmp_path / f"p{next(_roots)}"
    root.mkdir()
    (root / "osiris.yaml").write_text(replaced(source.read_text(), pick, value))
    for command in (
        ("config", "validate"),
        ("runs", "list", "--json"),
        ("logs", "list"),
        ("migrate", "status"),
        ("maintenance", "clean", "--dry-run"),
    ):
        answered_or_refused(osiris("--project", str(root), *command))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("oml") / "project"
    assert osiris("init", str(root), "--bare").code == 0
    shutil.copy(UPSTREAM / "v057" / "osiris_connections.yaml", root / "osiris_connections.yaml")
    return root


@FUZZED
@given(source=st.sampled_from(PIPELINES), pick=st.integers(0, 400), value=VALUES)
def test_any_value_in_an_upstream_pipeline_compiles_or_is_refused_in_one_line(
    project: Path, source: Path, pick: int, value: Any
) -> None:
    pipeline = project / "pipelines" / f"fuzz-{next(_roots)}.yaml"
    pipeline.parent.mkdir(exist_ok=True)
    pipeline.write_text(replaced(source.read_text(), pick, value))
    answered_or_refused(osiris("--project", str(project), "compile", str(pipeline), "--json"))


@FUZZED
@given(pick=st.integers(0, 400), value=VALUES)
def test_any_value_in_osiris_connections_yaml_is_read_or_refused_in_one_line(
    project: Path, pick: int, value: Any
) -> None:
    # The real file 0.5.7 users have: a connection list, and a compile that names one.
    root = project.parent / f"c{next(_roots)}"
    shutil.copytree(project, root)
    connections = root / "osiris_connections.yaml"
    connections.write_text(replaced(connections.read_text(), pick, value))
    shutil.copy(UPSTREAM / "v057" / "pipelines" / "mysql-orders.yaml", root / "orders.yaml")
    for command in (("connections", "list", "--json"), ("compile", "orders.yaml", "--json")):
        answered_or_refused(osiris("--project", str(root), *command))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("run") / "sample"
    assert osiris("init", str(root)).code == 0
    return root


@FUZZED
@given(pick=st.integers(0, 400), value=VALUES)
def test_a_sample_pipeline_with_any_value_runs_fails_or_is_refused_in_lines(
    sample: Path, tmp_path: Path, pick: int, value: Any
) -> None:
    root = Path(shutil.copytree(sample, tmp_path / f"r{next(_roots)}"))
    pipeline = root / "pipelines" / "my_pipeline.yaml"
    pipeline.write_text(replaced(pipeline.read_text(), pick, value))
    compiled = osiris("--project", str(root), "compile", str(pipeline), "--json")
    answered_or_refused(compiled)
    if compiled.code == 0:
        ran = osiris("--project", str(root), "run", "--last-compile", "--quiet")
        answered_or_refused(ran)


@pytest.fixture(scope="module")
def contract_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_upstream("v057", tmp_path_factory.mktemp("clean") / "v057")


def _pointing_somewhere(root: Path) -> st.SearchStrategy[Any]:
    """Paths a damaged record may hold: the project's own folders and files, the project
    itself, its parent, the system root, ways out, and any JSON."""
    names = ["data", "pipelines", "osiris.yaml", "build", "run_logs", "aiop", ".osiris", "."]
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from([str(root / n) for n in names] + [str(root.parent), "/", "/etc"]),
        st.sampled_from(["../outside", "run_logs/../data", "aiop/../../outside", "run_logs/."]),
        JSON,
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), line=st.integers(0, 30))
def test_a_clean_with_a_damaged_index_removes_nothing_outside_run_logs_and_aiop(
    contract_tree: Path, tmp_path: Path, data: st.DataObject, line: int
) -> None:
    # Retention deletes folders: no record, however damaged, may point it at anything else.
    base = tmp_path / f"x{next(_roots)}"
    root = Path(shutil.copytree(contract_tree, base / "project", symlinks=True))
    (base / "outside").mkdir()
    (base / "outside" / "keep.txt").write_text("not the project's")
    index = root / ".osiris/index/runs.jsonl"
    lines = index.read_text().splitlines()
    number = line % len(lines)
    record = yaml.safe_load(lines[number])
    key = data.draw(st.sampled_from(["run_logs_path", "aiop_path", "run_id", "pipeline_slug"]))
    record[key] = data.draw(_pointing_somewhere(root))
    lines[number] = json.dumps(record)
    index.write_text("\n".join(lines) + "\n")
    kept = ("run_logs", "aiop", ".osiris")
    before = {
        k: v
        for k, v in snapshot(base).items()
        if not k.startswith(tuple(f"project/{name}" for name in kept))
    }
    done = osiris(
        "--project", str(root), "maintenance", "clean", "--logs-days", "0", "--annex-days", "0"
    )
    answered_or_refused(done)
    after = snapshot(base)
    assert {k: after.get(k) for k in before} == before
