"""Sessions read over several processes give what one process reading them all gives.

On real disk (forked children cannot share pyfakefs's filesystem), with the real upstream
v0.3.5 tree; the part size and the core count are lowered so that its 32 sessions are
read by this process and three children.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from osiris.compat import session_reads
from osiris.compat.legacy_files import FileRead, recording_reads, shared_manifests
from osiris.compat.legacy_layout import SessionKind, classify_session
from osiris.compat.legacy_session import LegacySession, read_session
from tests.helpers.upstream import V035, copy_upstream

pytestmark = pytest.mark.allow_legacy_writes  # the upstream tree is a legacy one


@pytest.fixture
def sessions(tmp_path: Path) -> list[Path]:
    root = copy_upstream(V035, tmp_path / "project")
    return sorted(
        p for p in (root / "logs").iterdir() if classify_session(p.name) is not SessionKind.UNKNOWN
    )


@pytest.fixture
def four_parts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Four parts of the sessions; the children's process ids, to look at afterwards."""
    monkeypatch.setattr(session_reads, "PART", 4)
    monkeypatch.setattr(session_reads, "_cores", lambda: 4)
    made: list[int] = []
    real_init = session_reads._Child.__init__

    def init(self: session_reads._Child, *args: Any) -> None:
        real_init(self, *args)
        made.append(self.pid)

    monkeypatch.setattr(session_reads._Child, "__init__", init)
    return made


def serial(paths: list[Path]) -> tuple[list[LegacySession], dict[str, FileRead]]:
    root = paths[0].parents[1]
    with recording_reads() as reads:
        return [read_session(p, root) for p in paths], reads


def in_parts(paths: list[Path]) -> tuple[list[LegacySession], dict[str, FileRead]]:
    with recording_reads() as reads:
        return session_reads.read_sessions(paths, paths[0].parents[1]), reads


def reaped(pids: list[int]) -> bool:
    """True when every child has been waited for (none left running or a zombie)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


def test_children_read_three_parts_and_the_result_is_the_serial_read(
    sessions: list[Path], four_parts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = []
    real_answer = session_reads._Child.answer

    def answer(self: session_reads._Child) -> list[LegacySession] | None:
        found = real_answer(self)
        answers.append(found)
        return found

    monkeypatch.setattr(session_reads._Child, "answer", answer)
    assert len(sessions) == 32  # what the upstream tree holds
    expected, expected_reads = serial(sessions)
    found, found_reads = in_parts(sessions)
    assert len(four_parts) == 3 and all(a is not None for a in answers)
    assert reaped(four_parts)
    assert [len(a) for a in answers if a is not None] == [8, 8, 8]  # and 8 read here
    assert found == expected
    assert list(found_reads.items()) == list(expected_reads.items())
    assert sum(s.manifest is not None for s in found) > 10  # manifests came back too
    # ... and are shared here, as read here: each one's hash is worked out once.
    assert shared_manifests(s.manifest for s in found) == shared_manifests(
        s.manifest for s in expected
    )


def test_a_failed_child_has_its_part_read_here(
    sessions: list[Path], four_parts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In the child: exit at once without answering, as a crash or a kill would.
    monkeypatch.setattr(session_reads, "_answer", lambda *args: os._exit(3))
    failed = []
    real_answer = session_reads._Child.answer

    def answer(self: session_reads._Child) -> list[LegacySession] | None:
        found = real_answer(self)
        failed.append(found is None)
        return found

    monkeypatch.setattr(session_reads._Child, "answer", answer)
    expected, expected_reads = serial(sessions)
    found, found_reads = in_parts(sessions)
    assert failed == [True, True, True]
    assert found == expected
    assert list(found_reads.items()) == list(expected_reads.items())
    assert reaped(four_parts)


def test_an_error_in_a_childs_part_is_raised_here_and_no_child_is_left(
    sessions: list[Path], four_parts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = sessions[-1]  # in the last child's part

    def read(path: Path, root: Path) -> LegacySession:
        if path == broken:
            raise RuntimeError(f"cannot read {path.name}")
        return read_session(path, root)

    monkeypatch.setattr(session_reads, "read_session", read)
    with pytest.raises(RuntimeError, match=f"cannot read {broken.name}"):
        in_parts(sessions)
    assert len(four_parts) == 3
    assert reaped(four_parts)


def test_children_are_stopped_when_this_process_stops_reading(
    sessions: list[Path], four_parts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = os.getpid()

    def read(path: Path, root: Path) -> LegacySession:
        if os.getpid() == here:
            raise KeyboardInterrupt  # Ctrl-C while this process reads its own part
        return read_session(path, root)

    monkeypatch.setattr(session_reads, "read_session", read)
    with pytest.raises(KeyboardInterrupt):
        in_parts(sessions)
    assert len(four_parts) == 3
    assert reaped(four_parts)


def test_a_few_sessions_are_read_in_this_process(
    sessions: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_reads, "_cores", lambda: 4)

    def no_fork() -> int:
        raise AssertionError("forked for 32 sessions")

    monkeypatch.setattr(session_reads.os, "fork", no_fork)
    assert in_parts(sessions) == serial(sessions)


def test_a_process_running_another_thread_is_not_forked(
    sessions: list[Path], four_parts: list[int]
) -> None:
    # A progress bar's refresh thread, say: it may hold a lock a child would wait for.
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        found = in_parts(sessions)
    finally:
        release.set()
        other.join()
    assert four_parts == []
    assert found == serial(sessions)
