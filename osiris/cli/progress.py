"""Progress bars on a terminal, shown only once the work has run for a moment.

A bar for work that ends within `SHOW_AFTER` seconds is noise, and rich's progress module
costs more to import than a fast command's work (84 ms of a 0.3 s rollback of 10,000
items, measured on 2026-12-05). So it is imported when a bar is first shown, and the bar
is redrawn at most every `REDRAW` seconds: a step costs one clock read, not a redraw.
Off a terminal (pipes, CI, `--json`) there is no bar at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

SHOW_AFTER = 0.5  # seconds of work before a bar appears
REDRAW = 0.1  # seconds between two redraws

Update = Callable[[int, int], None]  # (done, total)


@contextmanager
def progress_bar(
    label: str, *, enabled: bool = True, transient: bool = False
) -> Iterator[Update | None]:
    """An `update(done, total)` for the block's work, or None when no bar can be shown.

    `transient`: the bar is erased when the block ends (else its last state stays)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with ExitStack() as stack:
        yield _DelayedBar(label, transient, stack).update


class _DelayedBar:
    def __init__(self, label: str, transient: bool, stack: ExitStack) -> None:
        self.label = label
        self.transient = transient
        self.stack = stack
        self.due = time.monotonic() + SHOW_AFTER
        self.bar: Any = None  # rich.progress.Progress once shown
        self.task: Any = None
        self.last = (0, 0)

    def update(self, done: int, total: int) -> None:
        self.last = (done, total)
        now = time.monotonic()
        if now < self.due:
            return
        self.due = now + REDRAW
        if self.bar is None:
            self._show()
        self.bar.update(self.task, completed=done, total=total)

    def _show(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from osiris.cli.common import console

        columns = (TextColumn(self.label), BarColumn(), MofNCompleteColumn())
        bar = Progress(*columns, console=console(stderr=True), transient=self.transient)
        self.stack.enter_context(bar)
        self.task = bar.add_task(self.label, total=None)
        self.bar = bar
        # Runs before the bar stops: it ends on the last step, not the last redraw.
        self.stack.callback(self._final)

    def _final(self) -> None:
        done, total = self.last
        self.bar.update(self.task, completed=done, total=total)
