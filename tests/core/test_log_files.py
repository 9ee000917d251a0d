"""Reading run log files: complete lines, tails, and following a running run."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from osiris.core.log_files import follow_log, read_log
from osiris.core.run_sources import (
    catalog_for,
)
from osiris.errors import NotFound
from tests.helpers.runs import dirs_of, record, write_run


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "proj"


def test_read_log_gives_complete_lines_and_tails(base: Path) -> None:
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    folder = write_run(base, rec, log_lines=[f"line {i}" for i in range(5)])
    with open(folder / "osiris.log", "a") as handle:
        handle.write("half a li")
    run = catalog_for(dirs_of(base)).log_folder("r-1")
    whole = read_log(run)
    assert whole.lines == [f"line {i}" for i in range(5)]
    assert whole.end == len("".join(f"line {i}\n" for i in range(5)))
    assert read_log(run, tail=2).lines == ["line 3", "line 4"]
    assert read_log(run, tail=0).lines == []
    assert read_log(run, tail=50).lines == whole.lines
    assert json.loads(read_log(run, "metrics").lines[0])["value"] == 3
    assert json.loads(read_log(run, "events", tail=1).lines[0])["event"] == "run_end"


def test_tail_reads_only_the_end_of_a_big_file(base: Path) -> None:
    folder = write_run(base, record("r-1", "2025-10-07T10:00:00.000Z"))
    lines = [f"{i:08d} " + "x" * 100 for i in range(20000)]
    (folder / "osiris.log").write_text("".join(line + "\n" for line in lines))
    run = catalog_for(dirs_of(base)).log_folder("r-1")
    assert read_log(run, tail=3).lines == lines[-3:]


def test_a_missing_log_is_an_error_only_once_the_run_ended(base: Path) -> None:
    folder = write_run(base, record("r-1", "2025-10-07T10:00:00.000Z"))
    (folder / "osiris.log").unlink()
    with pytest.raises(NotFound, match=r"run 'r-1' has no osiris\.log"):
        read_log(catalog_for(dirs_of(base)).log_folder("r-1"))
    running = write_run(base, record("r-2", "2025-10-07T11:00:00.000Z"), ended=False)
    (running / "osiris.log").unlink()
    assert read_log(catalog_for(dirs_of(base)).log_folder("r-2")).lines == []


def test_follow_prints_new_lines_until_run_end(base: Path) -> None:
    folder = write_run(
        base, record("r-1", "2025-10-07T10:00:00.000Z"), ended=False, log_lines=["first"]
    )
    view = read_log(catalog_for(dirs_of(base)).log_folder("r-1"))

    def run() -> None:
        for i in range(3):
            time.sleep(0.05)
            with open(folder / "osiris.log", "a") as handle:
                handle.write(f"step {i}\n")
        with open(folder / "osiris.log", "a") as handle:
            handle.write("finished\n")
        with open(folder / "events.jsonl", "a") as handle:
            handle.write('{"event": "run_end", "status": "success"}\n')

    writer = threading.Thread(target=run)
    writer.start()
    followed = list(follow_log(view, poll=0.01))
    writer.join()
    assert view.lines == ["first"]
    assert followed == ["step 0", "step 1", "step 2", "finished"]


def test_follow_of_a_finished_run_returns_at_once(base: Path) -> None:
    write_run(base, record("r-1", "2025-10-07T10:00:00.000Z"), log_lines=["a", "b"])
    view = read_log(catalog_for(dirs_of(base)).log_folder("r-1"), tail=1)
    slept: list[float] = []
    assert list(follow_log(view, sleep=slept.append)) == []
    assert slept == []
