"""Mode `legacy` writes the legacy layout (legacy-layout.md §2-4) and nothing of the contract.

The strongest check is the legacy reader: what the writer wrote must read back with the
right kind, status, pipeline, profile, manifest hash and AIOP.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris.compat.legacy_layout import SessionKind
from osiris.compat.legacy_reader import AiopVariant, scan_legacy
from osiris.compat.legacy_session import read_session
from osiris.compat.legacy_writer import free_run_session_id, refresh_latest
from osiris.core.run_index import parse_iso
from tests.helpers.demo import CliResult, osiris
from tests.helpers.projects import make_orders_project

SLUG = "orders-by-country"
CONTRACT_TOPS = ("build", "run_logs", "aiop", ".osiris")
INDEX_KEYS = {
    "session_id",
    "manifest_hash",
    "status",
    "started_at",
    "ended_at",
    "duration_ms",
    "total_rows",
    "errors_count",
    "bytes_core",
    "bytes_annex",
    "core_path",
    "run_card_path",
    "annex_dir",
}
FAILING_OML = """\
oml_version: "0.1.0"
name: broken
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: aggregate
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config: {query: "SELECT no_such_column FROM input_df"}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_orders_project(tmp_path / "proj", config={"compat": {"mode": "legacy"}})


def cli(root: Path, *args: str) -> CliResult:
    return osiris("--project", str(root), *args)


def compile_json(root: Path, *args: str) -> dict[str, Any]:
    result = cli(root, "compile", "pipelines/orders.yaml", "--json", *args)
    assert result.code == 0, result.err
    return result.json()


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def assert_no_contract_layout(root: Path) -> None:
    assert [top for top in CONTRACT_TOPS if os.path.lexists(root / top)] == []


# -- compile sessions -------------------------------------------------------------------------


def test_compile_session_events_and_metrics_follow_the_legacy_format(root) -> None:
    data = compile_json(root)
    session = root / data["legacy"]["session_path"]
    sid = session.name
    events = jsonl(session / "events.jsonl")
    assert [e["event"] for e in events] == [
        "run_start",
        "compile_start",
        "compile_complete",
        "run_end",
    ]
    assert {e["session"] for e in events} == {sid}
    assert (events[0]["command"], events[0]["fs_mode"]) == ("compile", "legacy")
    assert events[2]["manifest_path"] == f"logs/{sid}/compiled/manifest.yaml"
    end = events[-1]
    assert isinstance(end["duration_seconds"], float)
    assert parse_iso(end["end_time"]) >= parse_iso(events[0]["ts"])
    assert events[0]["ts"].endswith("+00:00")  # the old tool's time format
    metrics = jsonl(session / "metrics.jsonl")
    assert [(m["metric"], m["unit"]) for m in metrics] == [("compilation_duration", "seconds")]
    assert list((session / "artifacts").iterdir()) == []
    assert_no_contract_layout(root)


def test_compiled_tree_holds_the_build_and_the_legacy_meta_files(root) -> None:
    data = compile_json(root, "-p", "prod")
    compiled = root / data["build_path"]
    assert sorted(p.relative_to(compiled).as_posix() for p in compiled.rglob("*")) == [
        "cfg",
        "cfg/aggregate.json",
        "cfg/extract-orders.json",
        "cfg/write-summary.json",
        "effective_config.json",
        "manifest.yaml",
        "meta.json",
    ]
    manifest = yaml.safe_load((compiled / "manifest.yaml").read_text("utf-8"))
    assert manifest["meta"]["manifest_hash"] == data["manifest_hash"]
    meta = json.loads((compiled / "meta.json").read_text("utf-8"))
    assert set(meta) == {"compiled_at", "fingerprints", "oml_version", "profile"}
    assert set(meta["fingerprints"]) == {
        "compiler_fp",
        "manifest_fp",
        "oml_fp",
        "params_fp",
        "profile",
        "registry_fp",
    }
    assert meta["fingerprints"]["manifest_fp"] == f"sha256:{data['manifest_hash']}"
    assert (meta["profile"], meta["oml_version"]) == ("prod", "0.1.0")
    effective = json.loads((compiled / "effective_config.json").read_text("utf-8"))
    assert effective == {"params": {"min_amount": 100}, "profile": "prod"}


def test_last_compile_pointers_are_indented_and_identical(root) -> None:
    data = compile_json(root)
    sid = data["legacy"]["session_id"]
    pointer = (root / "logs/.last_compile.json").read_bytes()
    assert (root / f"logs/{sid}/.last.json").read_bytes() == pointer
    assert pointer.startswith(b"{\n  ")
    parsed = json.loads(pointer)
    assert parsed.pop("generated_at")
    assert parsed == {
        "session_id": sid,
        "manifest_path": f"logs/{sid}/compiled/manifest.yaml",
        "compiled_dir": f"logs/{sid}/compiled",
    }


def test_top_level_compiled_is_overwritten_file_by_file_and_keeps_others(root) -> None:
    (root / "compiled/cfg").mkdir(parents=True)
    (root / "compiled/cfg/old-step.json").write_text("{}")
    (root / "compiled/README.md").write_text("mine\n")
    (root / "compiled/manifest.yaml").write_text("stale: true\n")
    data = compile_json(root)
    session_tree = root / data["build_path"]
    for rel in ("manifest.yaml", "meta.json", "effective_config.json", "cfg/aggregate.json"):
        assert (root / "compiled" / rel).read_bytes() == (session_tree / rel).read_bytes()
    assert (root / "compiled/cfg/old-step.json").read_text() == "{}"
    assert (root / "compiled/README.md").read_text() == "mine\n"


def test_the_legacy_reader_reads_a_legacy_compile(root) -> None:
    data = compile_json(root, "-p", "prod")
    session = read_session(root / data["legacy"]["session_path"])
    assert (session.kind, session.status, session.warnings) == (SessionKind.COMPILE, "success", [])
    assert (session.pipeline_slug, session.profile) == (SLUG, "prod")
    assert session.manifest_hash == data["manifest_hash"]
    inventory = scan_legacy(root)
    assert inventory.last_compile.target == root / data["manifest_path"]
    (top,) = inventory.compiled
    assert (top.pipeline_slug, top.profile) == (SLUG, "prod")
    assert top.manifest_hash == data["manifest_hash"]
    assert inventory.warnings == ()


# -- run sessions -----------------------------------------------------------------------------


def run_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(root, "run", *args, "--json")
    assert result.code in (0, 1), result.err
    return result.code, result.json()


def test_the_legacy_reader_reads_a_legacy_run(root) -> None:
    compiled = compile_json(root, "-p", "prod")
    code, data = run_json(root, "--last-compile")
    assert code == 0
    sid = data["run_id"]
    assert sid.startswith("run_") and data["run_logs_path"] == f"logs/{sid}"
    inventory = scan_legacy(root)
    assert inventory.warnings == ()
    session = inventory.session(sid)
    assert (session.kind, session.status) == (SessionKind.RUN, "success")
    assert (session.pipeline_slug, session.profile) == (SLUG, "prod")
    assert session.manifest_hash == compiled["manifest_hash"]
    assert session.duration_ms is not None and session.finished_at is not None
    assert session.aiop is not None
    assert (session.aiop.variant, session.aiop.matched_by) == (AiopVariant.FOLDER, "content")
    assert session.aiop.status == "completed"
    assert len(session.aiop.annex_shards) == 3
    assert_no_contract_layout(root)


def test_a_run_session_holds_its_cfgs_and_status(root) -> None:
    compiled = compile_json(root)
    _, data = run_json(root, "--last-compile")
    run_dir = root / data["run_logs_path"]
    build_dir = root / compiled["build_path"]
    for cfg in (build_dir / "cfg").iterdir():
        assert (run_dir / "cfg" / cfg.name).read_bytes() == cfg.read_bytes()
    status = json.loads((run_dir / "status.json").read_text("utf-8"))
    assert (status["ok"], status["exit_code"], status["steps_completed"]) == (True, 0, 3)
    assert status["session_path"] == data["run_logs_path"]


def test_the_aiop_index_lines_have_the_legacy_fields(root) -> None:
    compiled = compile_json(root)
    _, data = run_json(root, "--last-compile")
    sid = data["run_id"]
    (line,) = jsonl(root / "logs/aiop/index/runs.jsonl")
    assert set(line) == INDEX_KEYS
    assert (line["session_id"], line["status"], line["total_rows"]) == (sid, "completed", 4)
    assert line["manifest_hash"] == compiled["manifest_hash"]
    assert line["core_path"] == f"logs/aiop/{sid}/aiop.json"
    assert line["bytes_core"] == (root / line["core_path"]).stat().st_size
    annex = root / line["annex_dir"]
    assert line["bytes_annex"] == sum(p.stat().st_size for p in annex.iterdir())
    by_pipeline = root / f"logs/aiop/index/by_pipeline/sha256:{compiled['manifest_hash']}.jsonl"
    assert jsonl(by_pipeline) == [line]
    aiop = json.loads((root / line["core_path"]).read_text("utf-8"))
    assert (aiop["run"]["session_id"], aiop["run"]["status"]) == (sid, "completed")
    timeline = (annex / "timeline.ndjson").read_bytes()
    assert timeline == (root / data["run_logs_path"] / "events.jsonl").read_bytes()


def test_a_failed_run_reads_back_as_failed(root) -> None:
    (root / "pipelines/broken.yaml").write_text(FAILING_OML)
    code, data = run_json(root, str(root / "pipelines/broken.yaml"))
    assert (code, data["status"]) == (1, "failed")
    session = scan_legacy(root).session(data["run_id"])
    assert (session.status, session.pipeline_slug) == ("failed", "broken")
    assert session.aiop.status == "failed"
    (line,) = jsonl(root / "logs/aiop/index/runs.jsonl")
    assert (line["status"], line["errors_count"]) == ("failed", 1)


def test_two_runs_get_two_sessions_and_latest_follows(root) -> None:
    compile_json(root)
    first = run_json(root, "--last-compile")[1]["run_id"]
    second = run_json(root, "--last-compile")[1]["run_id"]
    assert first != second
    latest = root / "logs/aiop/latest"
    assert os.readlink(latest) == second  # relative, so a moved project keeps it
    lines = jsonl(root / "logs/aiop/index/runs.jsonl")
    assert [line["session_id"] for line in lines] == [first, second]


def test_a_run_session_id_moves_past_a_taken_millisecond(tmp_path) -> None:
    started = datetime(2025, 10, 7, 12, 0, tzinfo=timezone.utc)
    ms = int(started.timestamp() * 1000)
    (tmp_path / f"logs/run_{ms}").mkdir(parents=True)
    (tmp_path / f"logs/aiop/run_{ms + 1}").mkdir(parents=True)
    assert free_run_session_id(tmp_path, started) == f"run_{ms + 2}"


def test_latest_names_the_newest_run_folder(tmp_path) -> None:
    aiop = tmp_path / "logs/aiop"
    for name in ("run_1759838400100", "run_1759838400300", "run_1759838400200"):
        (aiop / name).mkdir(parents=True)
    os.symlink(".", aiop / "latest")  # the cycle old versions left behind
    refresh_latest(aiop, "run_1759838400300")
    assert os.readlink(aiop / "latest") == "run_1759838400300"
    refresh_latest(aiop, "run_1759838400200")  # an older run that finished later
    assert os.readlink(aiop / "latest") == "run_1759838400300"
    (aiop / "run_1759838400300").rmdir()  # a link to a folder that is gone is replaced
    refresh_latest(aiop, "run_1759838400100")
    assert os.readlink(aiop / "latest") == "run_1759838400100"
    assert sorted(os.listdir(aiop)) == ["latest", "run_1759838400100", "run_1759838400200"]
