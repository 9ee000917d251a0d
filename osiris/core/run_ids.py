"""Run ids (contract.md §4): format tokens, the per-pipeline counter, and composition."""

from __future__ import annotations

import os
import random
import re
import sqlite3
import threading
import uuid
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from osiris.core.run_index import utc_now_iso
from osiris.errors import ConfigError, OperationFailed, OsirisError

SUPPORTED_TOKENS = ("incremental", "ulid", "iso_ulid", "uuidv4", "snowflake")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters("
    "pipeline_slug TEXT PRIMARY KEY, last_value INTEGER NOT NULL, updated_at TEXT NOT NULL)"
)
_BUSY_TIMEOUT_S = 30.0
_SNOWFLAKE_EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


def parse_run_id_format(value: str | list[str], *, source: str = "ids.run_id_format") -> list[str]:
    """Turn a format setting (a comma list or a list) into validated tokens, in order."""
    if isinstance(value, str):
        raw = value.split(",")
    elif isinstance(value, (list, tuple)):
        raw = [str(item) for item in value]
    else:
        raise ConfigError(
            f"run_id_format must be a string or a list, not {type(value).__name__}.", key=source
        )
    tokens = [item.strip().lower() for item in raw if item.strip()]
    supported = ", ".join(SUPPORTED_TOKENS)
    if not tokens:
        raise ConfigError(f"run_id_format is empty. Supported: {supported}.", key=source)
    for token in tokens:
        if token not in SUPPORTED_TOKENS:
            raise ConfigError(
                f"Unsupported run_id_format token '{token}'. Supported: {supported}.", key=source
            )
    return tokens


class CounterStore:
    """Per-pipeline counters in SQLite that never hand out the same value twice.

    A pipeline without a row (a new one, an empty or rebuilt database, a pipeline another
    version counted under another key) starts after the highest run number the run index
    holds for it, so numbers never restart. A file that is not a counters database (corrupt,
    another schema) is set aside as `counters.sqlite.corrupt-<time>`, never deleted, and a
    new one is built; `notes` says so. A database that cannot be opened is an environment
    error naming the file.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.notes: list[str] = []

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so the write lock is
        # taken before the read, which is what makes concurrent increments safe.
        conn = sqlite3.connect(self.db_path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        return conn

    def next_value(self, pipeline_slug: str) -> int:
        """Increment the pipeline's counter and return the new value."""
        try:
            return self._next(pipeline_slug)
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise _unusable(self.db_path, exc) from None
            self._set_aside(exc)
            try:
                return self._next(pipeline_slug)
            except sqlite3.DatabaseError as again:
                raise _unusable(self.db_path, again) from None

    def _next(self, pipeline_slug: str) -> int:
        with closing(self._connect()) as conn, conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT last_value FROM counters WHERE pipeline_slug = ?", (pipeline_slug,)
            ).fetchone()
            if row:
                value = row[0] + 1
            else:
                value = highest_run_number(self.db_path.parent, pipeline_slug) + 1
                if value > 1:
                    self.notes.append(
                        f"{self.db_path.name}: no counter for {pipeline_slug}; continued after "
                        f"run-{value - 1:06d}, the highest number in the run index"
                    )
            conn.execute(
                "INSERT INTO counters(pipeline_slug, last_value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(pipeline_slug) DO UPDATE SET "
                "last_value = excluded.last_value, updated_at = excluded.updated_at",
                (pipeline_slug, value, utc_now_iso()),
            )
        return value

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        stamp = utc_now_iso().replace(":", "").replace("-", "")
        kept = self.db_path.with_name(f"{self.db_path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.db_path}{suffix}")
            if source.exists():
                os.replace(source, Path(f"{kept}{suffix}"))
        self.notes.append(
            f"{self.db_path.name}: not a counters database ({exc}); set aside as {kept.name} "
            "and rebuilt from the run index"
        )

    def peek(self, pipeline_slug: str) -> int:
        """The last value handed out for the pipeline (from the run index when the database
        has none or cannot be read); writes nothing.

        Used by dry runs, so it never creates the database. A read-only connection to a
        WAL database would leave `-wal`/`-shm` files behind, so without a live WAL (no
        writer open) the file is read as immutable.
        """
        if not self.db_path.is_file():
            return highest_run_number(self.db_path.parent, pipeline_slug)
        live_wal = Path(f"{self.db_path}-wal").exists()
        uri = self.db_path.resolve().as_uri() + ("?mode=ro" if live_wal else "?mode=ro&immutable=1")
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S)) as conn:
                row = conn.execute(
                    "SELECT last_value FROM counters WHERE pipeline_slug = ?", (pipeline_slug,)
                ).fetchone()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc) and "no such table" not in str(exc):
                raise _unusable(self.db_path, exc) from None
            row = None
        return row[0] if row else highest_run_number(self.db_path.parent, pipeline_slug)


_RUN_NUMBER = re.compile(r"run-(\d+)")


def highest_run_number(index_dir: Path, pipeline_slug: str) -> int:
    """The highest `run-NNNNNN` number the run index holds for a pipeline (0: none)."""
    from osiris.core.run_index import RunIndexReader

    reader = RunIndexReader(index_dir, index_dir)
    numbers = [
        int(found.group(1))
        for record in reader.query(pipeline=pipeline_slug)
        if (found := _RUN_NUMBER.match(record.run_id))
    ]
    return max(numbers, default=0)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """True when the file is not a usable counters database (as opposed to busy or
    unreadable, which rebuilding would not cure)."""
    text = str(exc).lower()
    if any(word in text for word in ("locked", "busy", "unable to open", "readonly", "read-only")):
        return False
    return not isinstance(exc, sqlite3.OperationalError) or any(
        word in text for word in ("malformed", "not a database", "no such column", "no column")
    )


def _unusable(db_path: Path, exc: sqlite3.DatabaseError) -> OsirisError:
    if "readonly" in str(exc).lower():
        # The user's situation (a read-only folder or file), not a failure of the run.
        return OsirisError(
            "the run counters cannot be written: the file or its folder is read-only",
            path=db_path,
            hint="run from a writable copy of the project, or fix the permissions",
        )
    return OperationFailed(
        f"the run counters cannot be used: {exc}",
        path=db_path,
        hint="check the file's permissions and that no other process keeps it locked",
    )


class _SnowflakeClock:
    """Snowflake ids: 41 bits of ms since 2020, 10 of pid, 12 of sequence; rising per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self, now: datetime) -> int:
        ms = int((now - _SNOWFLAKE_EPOCH).total_seconds() * 1000)
        if ms < 0:
            raise ValueError("snowflake ids cannot be made for times before 2020-01-01")
        with self._lock:
            ms = max(ms, self._last_ms)
            if ms == self._last_ms:
                self._sequence += 1
                if self._sequence > 0xFFF:
                    ms += 1
                    self._sequence = 0
            else:
                # A random start (in the lower half, leaving room to count up) makes two
                # processes whose pids share their low 10 bits unlikely to collide.
                self._sequence = random.getrandbits(11)
            self._last_ms = ms
            sequence = self._sequence
        return (ms << 22) | ((os.getpid() & 0x3FF) << 12) | sequence


_snowflake = _SnowflakeClock()


class RunIdGenerator:
    """Makes run ids from a list of format tokens, joining the parts with `_`."""

    def __init__(self, formats: list[str], counters: CounterStore | None = None) -> None:
        self.formats = parse_run_id_format(list(formats))
        if "incremental" in self.formats and counters is None:
            raise ValueError("the 'incremental' run id format needs a CounterStore")
        self.counters = counters

    def generate(self, pipeline_slug: str, now: datetime | None = None) -> str:
        """A new run id for the pipeline; `now` (UTC when naive) stamps the time-based parts."""
        if now is None:
            now = datetime.now(timezone.utc)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        else:
            now = now.astimezone(timezone.utc)
        return "_".join(self._part(token, pipeline_slug, now) for token in self.formats)

    def _part(self, token: str, pipeline_slug: str, now: datetime) -> str:
        if token == "incremental":
            assert self.counters is not None  # checked in __init__
            return f"run-{self.counters.next_value(pipeline_slug):06d}"
        if token in ("ulid", "iso_ulid"):
            # python-ulid's import costs ~20 ms (it reads its own package metadata): paid
            # only by the formats that use it.
            from ulid import ULID

            ulid = str(ULID.from_datetime(now))
            return ulid if token == "ulid" else f"{now:%Y-%m-%dT%H-%M-%SZ}_{ulid}"
        if token == "uuidv4":
            return str(uuid.uuid4())
        return str(_snowflake.next_id(now))
