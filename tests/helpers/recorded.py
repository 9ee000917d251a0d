"""Projects with real recorded runs, shared by the reader command tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.demo import osiris
from tests.helpers.projects import ORDERS_OML, make_orders_project

BROKEN_OML = ORDERS_OML.replace("name: orders-by-country", "name: broken-orders").replace(
    "data/orders.csv", "data/missing.csv"
)
RUNNING = "2026-01-01T00-00-00Z_RUNNINGRUN0000000000000000"


def record_runs(root: Path) -> dict[str, str]:
    """A project with three real runs: dev (tagged nightly), prod, and a failed one."""
    make_orders_project(root)
    (root / "pipelines" / "broken.yaml").write_text(BROKEN_OML, "utf-8")
    ids = {}
    for name, args, code in (
        ("dev", ["orders.yaml", "--tags", "nightly"], 0),
        ("prod", ["orders.yaml", "-p", "prod"], 0),
        ("failed", ["broken.yaml"], 1),
    ):
        oml, *options = args
        result = osiris(
            "--project", str(root), "run", str(root / "pipelines" / oml), *options, "--json"
        )
        assert result.code == code, result.err
        ids[name] = result.json()["run_id"]
    return ids


def start_running_run(project: Path) -> Path:
    """A run that has started but not ended, so the index does not know it yet."""
    folder = project / "run_logs" / "dev" / "orders-by-country" / f"20260101T000000Z_{RUNNING}"
    folder.mkdir(parents=True)
    start = {
        "ts": "2026-01-01T00:00:00.000Z",
        "session": RUNNING,
        "event": "run_start",
        "run_id": RUNNING,
        "pipeline_slug": "orders-by-country",
        "profile": "dev",
    }
    (folder / "events.jsonl").write_text(json.dumps(start) + "\n", "utf-8")
    (folder / "osiris.log").write_text("started\n", "utf-8")
    return folder
