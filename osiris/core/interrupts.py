"""Ctrl-C (SIGINT) that stops a run within a second, and a finish it cannot tear.

Python runs its SIGINT handler only between bytecodes, so a long DuckDB query would
finish before `KeyboardInterrupt` is raised. While a query may run, the C-level wakeup
fd tells a watcher thread at once, which interrupts the query; Python then raises
`KeyboardInterrupt` as usual. Both helpers do nothing outside the main thread, where no
signal handler can be installed.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupting(connection: Any) -> Iterator[threading.Event]:
    """While the block runs, SIGINT also interrupts `connection`'s running query; the
    event it yields is set once SIGINT came."""
    pressed = threading.Event()
    if not _main_thread():
        yield pressed
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        # Returns when the write end is closed (os.read gives b"").
        while data := os.read(read_end, 64):
            if signal.SIGINT in data:
                pressed.set()
                connection.interrupt()

    watcher = threading.Thread(target=watch, name="osiris-sigint", daemon=True)
    watcher.start()
    try:
        yield pressed
    finally:
        signal.set_wakeup_fd(previous)
        os.close(write_end)
        watcher.join()
        os.close(read_end)


@contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C while the block writes a run's record; raise it after the block."""
    if not _main_thread():
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt
