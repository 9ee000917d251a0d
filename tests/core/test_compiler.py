"""The compiler: deterministic bytes and paths, no-op recompiles, atomic builds, pointers."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris.core import compiler
from osiris.core.compiler import (
    CompileResult,
    compile_pipeline,
    export_build,
    find_oml,
    load_build,
)
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.errors import ConfigError, NotFound, PipelineError, UsageError
from tests.helpers.projects import make_orders_project

OML = Path("pipelines/orders.yaml")


def compile_in(
    root: Path,
    *,
    profile: str | None = None,
    params: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> CompileResult:
    resolved = load_config(root, env={})
    return compile_pipeline(
        root / OML,
        resolved=resolved,
        contract=FilesystemContract.from_resolved(resolved),
        profile=profile,
        cli_params=params or {},
        env=env or {},
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_orders_project(tmp_path / "proj")


def test_build_layout_and_result(project: Path) -> None:
    result = compile_in(project)
    digest = result.manifest_hash
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert result.manifest_short == digest[:7]
    assert result.build_dir == (
        project / "build/pipelines/dev/orders-by-country" / f"{digest[:7]}-{digest}"
    )
    assert result.manifest_path == result.build_dir / "manifest.yaml"
    assert (
        result.created and result.profile == "dev" and result.pipeline_slug == "orders-by-country"
    )
    assert sorted(snapshot(result.build_dir)) == [
        "cfg/aggregate.json",
        "cfg/extract-orders.json",
        "cfg/write-summary.json",
        "fingerprints.json",
        "manifest.yaml",
        "plan.json",
        "run_summary.json",
    ]


def test_manifest_shape(project: Path) -> None:
    result = compile_in(project)
    text = result.manifest_path.read_text("utf-8")
    manifest = yaml.safe_load(text)
    assert text == yaml.safe_dump(
        manifest, sort_keys=True, default_flow_style=False, allow_unicode=True
    )
    assert manifest["pipeline"]["id"] == "orders-by-country"
    assert sorted(manifest["pipeline"]["fingerprints"]) == [
        "compiler_fp",
        "oml_fp",
        "params_fp",
        "profile",
        "registry_fp",
    ]
    assert manifest["steps"][1] == {
        "id": "aggregate",
        "component": "duckdb.processor",
        "driver": "duckdb.processor",
        "cfg_path": "cfg/aggregate.json",
        "needs": ["extract-orders"],
    }
    assert manifest["meta"]["manifest_hash"] == result.manifest_hash
    assert manifest["meta"]["manifest_short"] == result.manifest_short
    assert manifest["meta"]["profile"] == "dev"
    assert manifest["meta"]["oml_version"] == "0.1.0"
    assert manifest["name"] == "orders-by-country" and manifest["metadata"] == {}


def test_cfg_shape(project: Path) -> None:
    build = compile_in(project).build_dir
    cfg_text = (build / "cfg/write-summary.json").read_text("utf-8")
    assert json.loads(cfg_text) == {
        "component": "filesystem.csv_writer",
        "mode": "write",
        "config": {
            "path": "output/orders_by_country.csv",
            "delimiter": ",",
            "header": True,
            "encoding": "utf-8",
            "newline": "lf",
        },
    }
    assert cfg_text == json.dumps(json.loads(cfg_text), sort_keys=True, indent=2) + "\n"
    assert json.loads((build / "cfg/extract-orders.json").read_text())["mode"] == "extract"


def test_identical_inputs_give_identical_bytes_anywhere(tmp_path: Path) -> None:
    one = compile_in(make_orders_project(tmp_path / "one"))
    two = compile_in(make_orders_project(tmp_path / "elsewhere" / "two"))
    assert one.manifest_hash == two.manifest_hash
    assert snapshot(one.build_dir) == snapshot(two.build_dir)


def test_recompiling_is_a_no_op(project: Path) -> None:
    first = compile_in(project)
    before = {p: p.stat().st_mtime_ns for p in first.build_dir.rglob("*")}
    second = compile_in(project)
    assert not second.created
    assert second.build_dir == first.build_dir
    assert {p: p.stat().st_mtime_ns for p in first.build_dir.rglob("*")} == before
    siblings = [p.name for p in first.build_dir.parent.iterdir()]
    assert siblings == [first.build_dir.name]


def test_profile_changes_hash_and_path(project: Path) -> None:
    dev, prod = compile_in(project), compile_in(project, profile="prod")
    assert dev.manifest_hash != prod.manifest_hash
    assert "/pipelines/prod/orders-by-country/" in prod.build_dir.as_posix()
    query = json.loads((prod.build_dir / "cfg/aggregate.json").read_text())["config"]["query"]
    assert "amount >= 100" in query


def test_params_change_the_hash(project: Path) -> None:
    base = compile_in(project)
    assert compile_in(project, params={"min_amount": "5"}).manifest_hash != base.manifest_hash
    env_build = compile_in(project, env={"OSIRIS_PARAM_MIN_AMOUNT": "5"})
    assert env_build.manifest_hash == compile_in(project, params={"min_amount": "5"}).manifest_hash


def test_profiles_off_drops_the_segment(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path, config={"filesystem": {"profiles": {"enabled": False}}})
    result = compile_in(root)
    assert result.profile is None
    assert result.build_dir.parent == root / "build/pipelines/orders-by-country"
    lines = (root / ".osiris/index/last_compile.txt").read_text("utf-8").split("\n")
    assert lines[2:] == ["", ""]  # third line empty, then the final newline


def test_pointers_exact_bytes(project: Path) -> None:
    result = compile_in(project, profile="prod")
    rel = result.manifest_path.relative_to(project).as_posix()
    expected = f"{rel}\n{result.manifest_hash}\nprod\n".encode()
    assert result.pointers == [
        project / ".osiris/index/latest/orders-by-country.txt",
        project / ".osiris/index/last_compile.txt",
    ]
    for pointer in result.pointers:
        assert pointer.read_bytes() == expected


def test_no_wall_clock_time_in_build_files(project: Path) -> None:
    build = compile_in(project).build_dir
    stamp = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\b1[6-9]\d{8,11}\b")
    for name, data in snapshot(build).items():
        assert not stamp.search(data), name
    summary = json.loads((build / "run_summary.json").read_text())
    assert summary["inputs"] == {"oml_path": "pipelines/orders.yaml", "params": {"min_amount": 0}}
    assert summary["compiler"].startswith("osiris-compiler/")


def test_optional_artifacts_follow_their_flags(tmp_path: Path) -> None:
    flags = {"plan": False, "fingerprints": False, "run_summary": False}
    root = make_orders_project(tmp_path, config={"filesystem": {"artifacts": flags}})
    result = compile_in(root)
    assert sorted(snapshot(result.build_dir)) == [
        "cfg/aggregate.json",
        "cfg/extract-orders.json",
        "cfg/write-summary.json",
        "manifest.yaml",
    ]
    assert result.notes == []


def test_required_artifacts_are_written_with_a_note(tmp_path: Path) -> None:
    flags = {"manifest": False, "cfg": False}
    root = make_orders_project(tmp_path, config={"filesystem": {"artifacts": flags}})
    result = compile_in(root)
    assert result.manifest_path.is_file() and (result.build_dir / "cfg/aggregate.json").is_file()
    assert [n.split(" is false")[0] for n in result.notes] == [
        "filesystem.artifacts.manifest",
        "filesystem.artifacts.cfg",
    ]


def test_a_failed_write_leaves_no_build_and_no_pointer(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_chmod = os.chmod

    def failing_chmod(path: Any, mode: int) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_chmod(path, mode)

    monkeypatch.setattr(compiler.os, "chmod", failing_chmod)
    with pytest.raises(OSError, match="No space"):
        compile_in(project)
    parent = project / "build/pipelines/dev/orders-by-country"
    assert list(parent.iterdir()) == []
    assert not (project / ".osiris/index/last_compile.txt").exists()


def test_a_damaged_build_is_replaced(project: Path) -> None:
    first = compile_in(project)
    (first.build_dir / "cfg/aggregate.json").write_text("{}", "utf-8")
    again = compile_in(project)
    assert again.created
    assert again.notes == ["the existing build folder was damaged and has been replaced"]
    assert snapshot(again.build_dir)["cfg/aggregate.json"] != b"{}"
    assert [p.name for p in again.build_dir.parent.iterdir()] == [again.build_dir.name]


def test_unknown_profile_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    with pytest.raises(ConfigError, match="Unknown profile 'qa'"):
        compile_in(project, profile="qa")
    assert snapshot(project) == before
    assert not (project / "build").exists() and not (project / ".osiris").exists()


def test_an_invalid_pipeline_writes_nothing(project: Path) -> None:
    (project / OML).write_text('oml_version: "0.1.0"\nname: x\nsteps: []\n', "utf-8")
    with pytest.raises(PipelineError, match=r"^pipelines/orders\.yaml:3: steps: must be"):
        compile_in(project)
    assert not (project / "build").exists()


def test_find_oml(project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    contract = FilesystemContract.from_resolved(load_config(project, env={}))
    monkeypatch.chdir(tmp_path)
    assert find_oml(Path("pipelines/orders.yaml"), contract) == project / OML
    assert find_oml(Path("orders.yaml"), contract) == project / OML
    with pytest.raises(NotFound, match=r"^nope\.yaml: no such pipeline file \(hint: looked here"):
        find_oml(Path("nope.yaml"), contract)


# -- load_build ---------------------------------------------------------------------------------
def test_load_build_round_trip(project: Path) -> None:
    result = compile_in(project, profile="prod")
    build = load_build(result.manifest_path)
    assert build.manifest_hash == result.manifest_hash
    assert build.pipeline_slug == "orders-by-country" and build.profile == "prod"
    assert build.build_dir == result.build_dir
    assert [s["id"] for s in build.order] == ["extract-orders", "aggregate", "write-summary"]
    assert build.cfgs["extract-orders"]["mode"] == "extract"
    assert build.cfgs["write-summary"]["config"]["newline"] == "lf"
    assert load_build(result.build_dir).manifest_hash == result.manifest_hash


def test_load_build_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as info:
        load_build(tmp_path / "manifest.yaml")
    assert info.value.exit_code == 2
    assert "no such manifest" in info.value.one_line()


def test_load_build_damaged_manifest(project: Path) -> None:
    result = compile_in(project)
    result.manifest_path.write_text("pipeline: [\n", "utf-8")
    with pytest.raises(PipelineError, match="damaged manifest: not valid YAML"):
        load_build(result.manifest_path)
    result.manifest_path.write_text("steps: []\n", "utf-8")
    with pytest.raises(PipelineError, match=re.escape("damaged manifest: missing pipeline.id")):
        load_build(result.manifest_path)


def test_load_build_detects_an_edited_manifest(project: Path) -> None:
    result = compile_in(project)
    text = result.manifest_path.read_text("utf-8")
    result.manifest_path.write_text(text.replace("name: orders-by-country", "name: x"), "utf-8")
    with pytest.raises(PipelineError, match=re.escape("meta.manifest_hash: does not match")):
        load_build(result.manifest_path)


def test_load_build_missing_cfg(project: Path) -> None:
    result = compile_in(project)
    (result.build_dir / "cfg/aggregate.json").unlink()
    with pytest.raises(NotFound, match=re.escape("no cfg/aggregate.json for step aggregate")):
        load_build(result.manifest_path)


def test_load_build_accepts_legacy_flat_cfgs(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    manifest = {
        "pipeline": {"id": "legacy"},
        "steps": [{"id": "q", "driver": "duckdb.processor", "cfg_path": "cfg/q.json", "needs": []}],
        "meta": {"profile": None},
    }
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest), "utf-8")
    (tmp_path / "cfg/q.json").write_text('{"component": "duckdb.processor", "query": "SELECT 1"}')
    build = load_build(tmp_path / "manifest.yaml")
    assert build.cfgs["q"] == {
        "component": "duckdb.processor",
        "mode": None,
        "config": {"query": "SELECT 1"},
    }
    assert build.profile is None and build.pipeline_slug == "legacy"


# -- export_build -------------------------------------------------------------------------------
def test_export_build_copies_and_refuses_conflicts(project: Path, tmp_path: Path) -> None:
    build = compile_in(project).build_dir
    out = tmp_path / "out"
    copied = export_build(build, out)
    assert copied == out / build.name
    assert snapshot(copied) == snapshot(build)
    assert export_build(build, out) == copied  # identical files are fine
    (copied / "plan.json").write_text("{}", "utf-8")
    (copied / "manifest.yaml").unlink()
    with pytest.raises(UsageError, match=re.escape("plan.json: exists with different content")):
        export_build(build, out)
    assert not (copied / "manifest.yaml").exists()  # refused before copying anything
