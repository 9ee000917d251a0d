"""Rollout modes (compat.md §1): precedence, errors, `fs_mode` in every result, run sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris.compat.mode import outputs_for, resolve_mode
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from tests.helpers.demo import osiris
from tests.helpers.projects import make_orders_project
from tests.helpers.tree import snapshot

MODES = ("legacy", "dual", "contract")
INPUTS = ("data", "pipelines", "osiris.yaml")
ENV = "OSIRIS_FS_CONTRACT"


def project(tmp_path: Path, mode: str | None = None) -> Path:
    config = {"compat": {"mode": mode}} if mode else None
    return make_orders_project(tmp_path / "proj", config=config)


def written(root: Path) -> set[str]:
    """The top-level names a command wrote (the project's own inputs left out)."""
    return {rel.split("/")[0] for rel in snapshot(root, ignore=INPUTS)}


@pytest.mark.parametrize(
    ("yaml_mode", "env", "flag", "expected"),
    [
        (None, None, None, ("contract", "default")),
        ("dual", None, None, ("dual", "file")),
        ("dual", "legacy", None, ("legacy", f"env {ENV}")),
        ("dual", "legacy", "contract", ("contract", "flag")),
        (None, None, "dual", ("dual", "flag")),
    ],
)
def test_resolve_mode_precedence_and_origin(tmp_path, yaml_mode, env, flag, expected) -> None:
    root = project(tmp_path, yaml_mode)
    resolved = load_config(root, env={ENV: env} if env else {}, flags={"compat.mode": flag})
    info = resolve_mode(resolved)
    assert (info.mode, info.origin) == expected


@pytest.mark.parametrize("mode", MODES)
def test_outputs_record_their_mode(tmp_path, mode) -> None:
    resolved = load_config(project(tmp_path), env={})
    outputs = outputs_for(mode, FilesystemContract.from_resolved(resolved), ["incremental"])
    assert outputs.fs_mode == mode


@pytest.mark.parametrize(
    "command", [("compile", "pipelines/orders.yaml"), ("run", "--last-compile")]
)
def test_a_bad_env_mode_is_one_line_listing_the_modes_and_writes_nothing(tmp_path, command):
    root = project(tmp_path)
    result = osiris("--project", str(root), *command, env={ENV: "bogus"})
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert result.err.startswith(f"error: {ENV}: compat.mode: ")
    assert all(f"'{mode}'" in result.err for mode in MODES)
    assert "'bogus'" in result.err
    assert written(root) == set()


def test_a_bad_fs_mode_flag_is_one_line_and_writes_nothing(tmp_path) -> None:
    root = project(tmp_path)
    result = osiris("--project", str(root), "compile", "pipelines/orders.yaml", "--fs-mode", "both")
    assert result.code == 2
    assert result.err.startswith("error: command line: compat.mode: ")
    assert len(result.err.strip().splitlines()) == 1
    assert written(root) == set()


@pytest.mark.parametrize(
    ("flag", "env", "expected", "tops"),
    [
        ("contract", "dual", "contract", {"build", ".osiris"}),
        (None, "dual", "dual", {"build", ".osiris", "logs", "compiled"}),
        (None, None, "legacy", {"logs", "compiled"}),
    ],
)
def test_fs_mode_flag_beats_env_beats_yaml(tmp_path, flag, env, expected, tops) -> None:
    root = project(tmp_path, "legacy")
    args = ["--project", str(root), "compile", "pipelines/orders.yaml", "--json"]
    result = osiris(*args, *(["--fs-mode", flag] if flag else []), env={ENV: env} if env else {})
    assert result.code == 0, result.err
    assert result.json()["fs_mode"] == expected
    assert written(root) == tops


@pytest.mark.parametrize("mode", MODES)
def test_every_json_result_names_the_mode(tmp_path, mode) -> None:
    root = project(tmp_path, mode)
    base = ["--project", str(root)]
    compiled = osiris(*base, "compile", "pipelines/orders.yaml", "--json")
    dry = osiris(*base, "run", "--last-compile", "--dry-run", "--json")
    ran = osiris(*base, "run", "--last-compile", "--json")
    for result in (compiled, dry, ran):
        assert result.code == 0, result.err
        assert result.json()["fs_mode"] == mode
    if mode == "contract":
        assert "legacy" not in compiled.json()
    else:
        legacy = compiled.json()["legacy"]
        assert legacy["session_path"] == f"logs/{legacy['session_id']}"
        assert legacy["manifest_path"] == f"logs/{legacy['session_id']}/compiled/manifest.yaml"
        assert compiled.json()["warnings"] == []
    events = (root / ran.json()["run_logs_path"] / "events.jsonl").read_text("utf-8")
    assert json.loads(events.splitlines()[0])["fs_mode"] == mode


def test_legacy_compile_json_points_at_the_session(tmp_path) -> None:
    root = project(tmp_path, "legacy")
    data = osiris("--project", str(root), "compile", "pipelines/orders.yaml", "--json").json()
    session = f"logs/{data['legacy']['session_id']}"
    assert data["build_path"] == f"{session}/compiled"
    assert data["manifest_path"] == f"{session}/compiled/manifest.yaml"
    assert data["pointers"] == ["logs/.last_compile.json", f"{session}/.last.json"]
    assert data["legacy"]["compiled_copy"] == "compiled"
    assert data["created"] is True


def test_legacy_last_compile_reads_the_legacy_pointer(tmp_path) -> None:
    root = project(tmp_path, "legacy")
    base = ["--project", str(root)]
    first = osiris(*base, "compile", "pipelines/orders.yaml", "--json").json()
    second = osiris(*base, "compile", "pipelines/orders.yaml", "--json").json()
    assert first["manifest_path"] != second["manifest_path"]  # a new session per compile
    ran = osiris(*base, "run", "--last-compile", "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["build_manifest_path"] == second["manifest_path"]


def test_legacy_last_compile_ignores_the_contract_pointer(tmp_path) -> None:
    root = project(tmp_path, "legacy")
    base = ["--project", str(root)]
    assert osiris(*base, "compile", "pipelines/orders.yaml", "--fs-mode", "contract").code == 0
    result = osiris(*base, "run", "--last-compile")
    assert result.code == 2
    assert result.err == (
        "error: logs/.last_compile.json: nothing has been compiled yet "
        "(hint: run `osiris compile pipelines/<file>.yaml` first)\n"
    )


def test_legacy_last_compile_naming_a_missing_manifest_is_an_error(tmp_path) -> None:
    root = project(tmp_path, "legacy")
    base = ["--project", str(root)]
    data = osiris(*base, "compile", "pipelines/orders.yaml", "--json").json()
    (root / data["manifest_path"]).unlink()
    result = osiris(*base, "run", "--last-compile")
    assert result.code == 2
    assert result.err.startswith("error: logs/.last_compile.json: names logs/compile_")
    assert "(hint: compile the pipeline again)" in result.err


def test_legacy_run_of_an_oml_file_compiles_to_a_legacy_session(tmp_path) -> None:
    root = project(tmp_path, "legacy")
    ran = osiris("--project", str(root), "run", str(root / "pipelines/orders.yaml"), "--json")
    assert ran.code == 0, ran.err
    data = ran.json()
    pointer = json.loads((root / "logs/.last_compile.json").read_text("utf-8"))
    assert data["build_manifest_path"] == pointer["manifest_path"]
    assert data["run_logs_path"] == f"logs/{data['run_id']}"
    assert written(root) == {"logs", "compiled", "output"}


def test_dual_run_of_an_oml_file_runs_the_build_and_mirrors_the_compile(tmp_path) -> None:
    root = project(tmp_path, "dual")
    ran = osiris("--project", str(root), "run", str(root / "pipelines/orders.yaml"), "--json")
    assert ran.code == 0, ran.err
    data = ran.json()
    assert data["build_manifest_path"].startswith("build/pipelines/dev/orders-by-country/")
    legacy_manifest = json.loads((root / "logs/.last_compile.json").read_text())["manifest_path"]
    assert (root / legacy_manifest).samefile(root / data["build_manifest_path"])
