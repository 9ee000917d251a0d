"""Reading a run's log files: `osiris logs show`, with `--tail` and `--follow`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from osiris.errors import NotFound

if TYPE_CHECKING:
    pass

from osiris.core.fsio import open_regular
from osiris.core.run_sources import EVENTS, TAIL_BYTES, UNFINISHED, RunFolder, edge_events

LOG_FILES = {"osiris": "osiris.log", "events": EVENTS, "metrics": "metrics.jsonl"}


@dataclass(frozen=True)
class LogView:
    """The complete lines of one log file of a run, and the byte offset after the last one."""

    folder: RunFolder
    path: Path
    lines: list[str]
    end: int


def read_log(folder: RunFolder, which: str = "osiris", *, tail: int | None = None) -> LogView:
    """Read `osiris.log`, `events.jsonl` or `metrics.jsonl` of a run (its last `tail` lines)."""
    path = folder.path / LOG_FILES[which]
    try:
        lines, end = _complete_lines(path, tail)
    except FileNotFoundError:
        if folder.status != UNFINISHED:
            raise NotFound(f"run '{folder.run_id}' has no {path.name}", path=path) from None
        lines, end = [], 0  # a run that just started may not have written it yet
    except OSError as exc:
        raise NotFound(
            f"run '{folder.run_id}' has no readable {path.name} ({exc.strerror or exc})",
            path=path,
            hint="it is not a regular file (a link or a pipe is never read)",
        ) from None
    return LogView(folder=folder, path=path, lines=lines, end=end)


def _complete_lines(path: Path, tail: int | None) -> tuple[list[str], int]:
    with open_regular(path) as handle:
        size = handle.seek(0, os.SEEK_END)
        start = 0 if tail is None else size
        newlines = 0
        while tail is not None and start > 0 and newlines <= tail:
            step = min(TAIL_BYTES, start)
            start -= step
            handle.seek(start)
            newlines += handle.read(step).count(b"\n")
        handle.seek(start)
        data = handle.read(size - start)
    complete = data.rfind(b"\n") + 1  # a line still being written is left for later
    lines = data[:complete].split(b"\n")[:-1]
    if start > 0:
        lines = lines[1:]  # the read began inside a line
    if tail is not None:
        lines = lines[len(lines) - tail :] if tail else []
    return [line.decode("utf-8", "replace") for line in lines], start + complete


def run_ended(events_path: Path) -> bool:
    """True once the run's last complete event is `run_end`."""
    return edge_events(events_path)[1].get("event") == "run_end"


def follow_log(
    view: LogView, *, poll: float = 0.2, sleep: Callable[[float], None] = time.sleep
) -> Iterator[str]:
    """Yield lines appended after `view` until the run writes its `run_end` event."""
    events = view.folder.path / EVENTS
    offset, pending = view.end, b""
    while True:
        # Checked before reading: every line written before run_end is read in this pass.
        ended = run_ended(events)
        try:
            with open_regular(view.path) as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        offset += len(data)
        *complete, pending = (pending + data).split(b"\n")
        yield from (line.decode("utf-8", "replace") for line in complete)
        if ended:
            if pending:
                yield pending.decode("utf-8", "replace")
            return
        sleep(poll)
