"""Reading the sessions of `logs/`, split over the machine's cores.

Reading a session is CPU work (its JSON lines, status and manifest parsed, ~0.2 ms); a
project of 10,000 sessions spends most of a migration plan in it. The list is cut into
contiguous parts of at least `PART` sessions, at most one per usable core: this process
reads the first part, a forked child each other one and sends back, pickled through a pipe,
its sessions and the file reads it recorded (`recording_reads`). Parts are joined in order,
so the result is the serial one. A child that fails in any way (an error, a signal, a short
answer) has its part read here again, which raises what a serial read would raise.

Nothing is written meanwhile: a child only reads, and is always waited for (killed first
when this process stops early, on Ctrl-C say).
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from osiris.compat.legacy_files import recorded, share_manifests, shared_manifests
from osiris.compat.legacy_session import LegacySession, read_session

# The fewest sessions worth a process: forking and pickling cost ~5% of reading them.
PART = 1000


def read_sessions(paths: Sequence[Path], root: Path) -> list[LegacySession]:
    """`read_session` of each path, in order."""
    count = min(_cores(), max(1, len(paths) // PART))
    # Only a process running one thread is forked: another one (a progress bar's refresh
    # thread, say) may hold a lock the child would wait for forever.
    parts = _split(paths, count if threading.active_count() == 1 else 1)
    children: list[_Child] = []
    try:
        for part in parts[1:]:
            children.append(_Child(part, root))
        sessions = _read(parts[0], root)
        for child in children:
            sessions += child.answer() or _read(child.part, root)
    finally:
        for child in children:
            child.stop()
    return sessions


def _read(part: Sequence[Path], root: Path) -> list[LegacySession]:
    return [read_session(path, root) for path in part]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (Linux)
    except AttributeError:
        return os.cpu_count() or 1


def _split(paths: Sequence[Path], count: int) -> list[Sequence[Path]]:
    size, extra = divmod(len(paths), count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [paths[start:end] for start, end in pairwise(bounds)]


class _Child:
    """A forked process reading one part; its answer is read once, then it is reaped."""

    def __init__(self, part: Sequence[Path], root: Path) -> None:
        self.part = part
        self.readable: int | None = None
        readable, writable = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:  # no process to be had (a limit reached): the part is read here
            self.pid = 0
            os.close(readable)
            os.close(writable)
            return
        if self.pid == 0:
            os.close(readable)
            _answer(part, root, writable)  # never returns
        os.close(writable)
        self.readable = readable

    def answer(self) -> list[LegacySession] | None:
        """The child's sessions, its recorded reads merged into this process's; None when
        it failed."""
        if self.readable is None:
            return None
        with open(self.readable, "rb") as pipe:
            self.readable = None
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if status != 0 or not data:
            return None
        sessions: list[LegacySession]
        sessions, reads, shared = pickle.loads(data)
        here = recorded()
        if here is not None and reads is not None:
            here.update(reads)
        share_manifests(s.manifest for s, kept in zip(sessions, shared, strict=True) if kept)
        return sessions

    def stop(self) -> None:
        if self.readable is not None:
            os.close(self.readable)
            self.readable = None
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0


def _answer(part: Sequence[Path], root: Path, writable: int) -> None:
    """In the child: read the part and write the answer, then exit without cleaning up
    anything of the parent's (no atexit handlers, no buffers flushed twice)."""
    code = 1
    try:
        reads = recorded()
        if reads is not None:
            reads.clear()  # this process's copy: only what the part reads goes back
        sessions = _read(part, root)
        shared = shared_manifests(s.manifest for s in sessions)
        answer = pickle.dumps((sessions, reads, shared), protocol=pickle.HIGHEST_PROTOCOL)
        with open(writable, "wb") as pipe:
            pipe.write(answer)
        code = 0
    finally:
        os._exit(code)
