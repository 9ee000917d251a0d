"""The demo flow in real processes: `python -m osiris compile`, then `run --last-compile`.

Also the contract-mode regression: compiling and running write nothing outside `build/`,
`run_logs/`, `aiop/`, `.osiris/` and the pipeline's declared output, and nothing at all in
the user's home folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.demo import DEMO_PIPELINE, copy_demo_project, osiris_process
from tests.helpers.tree import diff_trees, snapshot

pytestmark = pytest.mark.slow

CONTRACT_ROOTS = ("build", "run_logs", "aiop", ".osiris")
DECLARED_OUTPUT = "output/orders_by_country.csv"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_demo_project(tmp_path / "orders")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_compile_then_run_last_compile_as_processes(project: Path, home: Path) -> None:
    env = {"HOME": str(home)}
    compiled = osiris_process("compile", DEMO_PIPELINE, "-p", "dev", "--json", cwd=project, env=env)
    assert (compiled.code, compiled.err) == (0, ""), compiled.err
    build = json.loads(compiled.out)
    assert (project / build["manifest_path"]).is_file()

    ran = osiris_process("run", "--last-compile", "-p", "dev", "--json", cwd=project, env=env)
    assert (ran.code, ran.err) == (0, ""), ran.err
    record = json.loads(ran.out)
    assert (record["status"], record["profile"]) == ("success", "dev")
    assert record["build_manifest_path"] == build["manifest_path"]
    assert (project / record["run_logs_path"] / "events.jsonl").is_file()
    assert (project / record["aiop_path"] / "summary.json").is_file()
    index = (project / ".osiris/index/runs.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["run_id"] for line in index] == [record["run_id"]]
    assert (project / DECLARED_OUTPUT).read_text("utf-8").splitlines()[0] == "country,orders,total"


def test_bad_input_in_a_process_is_one_line_and_exit_2(project: Path) -> None:
    result = osiris_process("run", "--last-compile", cwd=project)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: .osiris/index/last_compile.txt: nothing has been compiled yet "
        "(hint: run `osiris compile pipelines/<file>.yaml` first)\n"
    )


def test_contract_mode_writes_only_inside_the_contract_folders(project: Path, home: Path) -> None:
    before = snapshot(project)
    env = {"HOME": str(home)}
    for args in (
        ("compile", DEMO_PIPELINE, "-p", "prod"),
        ("run", "--last-compile", "-p", "prod", "--verbose"),
        ("run", DEMO_PIPELINE, "-p", "dev"),
    ):
        result = osiris_process(*args, cwd=project, env=env)
        assert result.code == 0, result.err

    written = diff_trees(before, snapshot(project)).paths
    assert written, "compile and run wrote nothing at all"
    outside = sorted(
        path
        for path in written
        if path.split("/")[0] not in CONTRACT_ROOTS and path not in ("output", DECLARED_OUTPUT)
    )
    assert outside == [], f"written outside the contract folders: {outside}"
    assert {path.split("/")[0] for path in written} == {*CONTRACT_ROOTS, "output"}
    assert snapshot(home) == {}
