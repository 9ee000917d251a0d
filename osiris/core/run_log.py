"""The run-log writer: every file of a run directory is written through `RunLog`.

The run directory is created once, with its final name, before the first event (no
temporary session that could lose early events). Every write is reported to the
registered `WriteObserver`s: the one seam the compat layer uses to mirror a run into the
legacy layout (dual mode) without the runner knowing about it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from osiris.core.fsio import atomic_write_bytes, canonical_json, pretty_json
from osiris.core.run_index import utc_now_iso
from osiris.errors import OsirisError


class WriteObserver(Protocol):
    """Told about each file a run writes, after it is on disk.

    An observer must never raise into the run: it queues what it has to report (e.g. a
    failed mirror) and `drain_reports` hands that over as `{"event": name, **fields}`
    (recorded in events.jsonl) or `{"debug": message}` (recorded in debug.log).
    """

    def file_written(self, rel: str, path: Path) -> None: ...

    def drain_reports(self) -> list[dict[str, Any]]: ...

    def closed(self) -> None: ...


class RunLog:
    """Writes `events.jsonl`, `metrics.jsonl`, `osiris.log`, `debug.log`, `status.json`, ..."""

    def __init__(
        self,
        run_dir: Path,
        *,
        session: str,
        verbose: bool = False,
        observers: list[WriteObserver] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.session = session
        self.verbose = verbose
        self.observers: list[WriteObserver] = list(observers or [])
        self.events: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self._reporting = False
        self._appended: set[str] = set()

    def create(self) -> None:
        """Create the run directory with its final name; an existing one is never reused."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise OsirisError(
                "the run directory already exists; runs are never overwritten",
                path=self.run_dir,
                hint="check filesystem.naming.run_dir: it should contain {run_id}",
            ) from None
        (self.run_dir / "artifacts").mkdir()

    def _append(self, name: str, line: str) -> None:
        path = self.run_dir / name
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
        self._appended.add(name)
        self._notify(name, path)

    def sync(self) -> None:
        """Make every appended log durable: once per file when the run ends, before its index
        record points at it (a line per event stays readable by other processes as it is
        written; only a machine crash could lose lines not yet synced)."""
        sync = getattr(os, "fdatasync", os.fsync)  # an append needs only data and size
        for name in sorted(self._appended):
            handle = os.open(self.run_dir / name, os.O_RDONLY)
            try:
                sync(handle)
            finally:
                os.close(handle)
        self._appended.clear()

    def _notify(self, rel: str, path: Path) -> None:
        for observer in self.observers:
            observer.file_written(rel, path)
        if self._reporting:
            return  # reports written now are drained on the next write, so this cannot loop
        self._reporting = True
        try:
            for observer in self.observers:
                for report in observer.drain_reports():
                    if "debug" in report:
                        self.debug(str(report["debug"]), always=True)
                    else:
                        self.event(**report)
        finally:
            self._reporting = False

    def event(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": utc_now_iso(), "session": self.session, "event": event, **fields}
        self.events.append(record)
        self._append("events.jsonl", canonical_json(record) + "\n")
        return record

    def metric(self, name: str, value: float | int, **fields: Any) -> dict[str, Any]:
        record = {"ts": utc_now_iso(), "session": self.session, "metric": name, "value": value}
        record.update(fields)
        self.metrics.append(record)
        self._append("metrics.jsonl", canonical_json(record) + "\n")
        return record

    def log(self, message: str, *, level: str = "INFO") -> None:
        """A human line in `osiris.log` (and in `debug.log` when verbose)."""
        line = f"{utc_now_iso()} {level:<5} {message}\n"
        self._append("osiris.log", line)
        if self.verbose:
            self._append("debug.log", line)

    def debug(self, message: str, *, always: bool = False) -> None:
        """A line in `debug.log`: only when verbose, unless the compat layer must say it."""
        if self.verbose or always:
            self._append("debug.log", f"{utc_now_iso()} DEBUG {message}\n")

    def touch(self, rel: str) -> None:
        """Make sure a (possibly still empty) log file exists, as readers expect every one."""
        path = self.run_dir / rel
        path.touch()
        self._notify(rel, path)

    def write_file(self, rel: str, data: bytes) -> Path:
        """Write a whole file (atomically) inside the run directory."""
        path = self.run_dir / rel
        atomic_write_bytes(path, data)
        self._notify(rel, path)
        return path

    def write_json(self, rel: str, value: Any) -> Path:
        return self.write_file(rel, pretty_json(value).encode("utf-8"))

    def artifacts_dir(self, step_id: str) -> Path:
        path = self.run_dir / "artifacts" / step_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def report_artifacts(self, step_id: str) -> None:
        """Tell observers about files a driver wrote into its artifacts folder."""
        folder = self.run_dir / "artifacts" / step_id
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self._notify(path.relative_to(self.run_dir).as_posix(), path)

    def close(self) -> None:
        self.sync()
        for observer in self.observers:
            observer.closed()


@contextmanager
def open_run_log(run_dir: Path, **kwargs: Any) -> Iterator[RunLog]:
    """Create a run log and always close its observers."""
    run_log = RunLog(run_dir, **kwargs)
    run_log.create()
    try:
        yield run_log
    finally:
        run_log.close()
