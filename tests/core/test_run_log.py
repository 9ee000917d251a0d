from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from osiris.core import run_log as run_log_module
from osiris.core.run_log import open_run_log


def test_each_appended_log_is_synced_once_when_the_run_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A line per event used to cost an fsync each (26 for a three-step run); the logs are
    # synced once at the end, before the index record that points at them is written.
    synced: list[str] = []
    real_sync = os.fdatasync

    def recording_sync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_sync(fd)

    monkeypatch.setattr(run_log_module.os, "fdatasync", recording_sync)
    run_dir = tmp_path / "run"
    with open_run_log(run_dir, session="r1", verbose=True) as log:
        for n in range(5):
            log.event("step_start", step_id=f"s{n}")
            log.metric("rows_read", n, step_id=f"s{n}")
            log.log(f"step s{n}")
        assert synced == []  # readable as written, nothing synced yet
    assert synced == ["debug.log", "events.jsonl", "metrics.jsonl", "osiris.log"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["step_id"] for e in events] == ["s0", "s1", "s2", "s3", "s4"]
    assert len((run_dir / "osiris.log").read_text().splitlines()) == 5
