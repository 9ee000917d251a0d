"""Upstream 0.5.x records, folders and builds, read as this version's."""

from __future__ import annotations

import yaml

from osiris.core.foreign_records import (
    folder_key,
    is_upstream_05,
    normalized,
    upstream05_manifest_hash,
    upstream_token,
)
from osiris.core.run_index import RunRecord
from tests.helpers.upstream import FIXTURES, V057

RECORD = {
    "run_id": "run-000003_01M8XKMGEZNATPMCEHH40A3WQW",
    "pipeline_slug": "orders_report_(eu)_v2",
    "profile": "prod",
    "run_ts": "2026-12-03T09:26:43.490827+00:00",
    "status": "success",
    "duration_ms": 507,
    "run_logs_path": "/home/analyst/projects/shop-v0507/run_logs/prod/orders-report-eu-v2/x",
    "tags": [],
    "branch": "",
    "runtime_env": None,
}


def test_a_057_record_gets_start_finish_and_the_slug_of_its_folders() -> None:
    assert is_upstream_05(RECORD)
    record = RunRecord.from_dict(RECORD)
    assert (record.started_at, record.finished_at) == (
        "2026-12-03T09:26:43.490Z",
        "2026-12-03T09:26:43.997Z",
    )
    assert record.pipeline_slug == "orders-report-eu-v2"
    assert record.extra["upstream_pipeline_id"] == "orders_report_(eu)_v2"
    assert record.extra["written_by"] == "upstream-0.5"
    # This version's records are left alone.
    ours = {**RECORD, "started_at": "2026-12-03T09:26:43.490Z", "fs_mode": "contract"}
    assert (
        not is_upstream_05(ours) and normalized(RECORD)["pipeline_slug"] != RECORD["pipeline_slug"]
    )


def test_tokens_and_folder_keys_as_057_spelled_them() -> None:
    assert upstream_token("Orders Report (EU) v2") == "orders-report-eu-v2"
    assert upstream_token("20261203T092625Z") == "20261203t092625z"
    assert folder_key("run-000005_01M8XKKYYKVZJ0AGB8XF2TEW0K") == folder_key(
        "run-000005-01m8xkkyykvzj0agb8xf2tew0k"
    )


def test_the_057_hash_rule_reproduces_every_build_it_wrote() -> None:
    manifests = sorted((FIXTURES / V057 / "build").rglob("manifest.yaml"))
    assert len(manifests) == 13
    for path in manifests:
        manifest = yaml.safe_load(path.read_text("utf-8"))
        stored = manifest["meta"]["manifest_hash"]
        assert upstream05_manifest_hash(manifest, manifest["meta"]["profile"]) == stored, path
        assert path.parent.name.endswith(stored)
