"""The driver interface: every component runs through `Driver.run(StepContext)`.

DuckDB is the data plane: each step's output is a table `df_<step_id>` in one in-memory
connection per run, so steps hand data to each other without pandas or temp files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

_TABLE_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def table_name(step_id: str) -> str:
    """The DuckDB table holding a step's output (pipeline.md: `df_<step_id>`)."""
    return "df_" + _TABLE_UNSAFE.sub("_", step_id)


def quote(name: str) -> str:
    """A DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def table_columns(connection: Any, table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every column of `table`, in order."""
    rows = connection.execute(f"DESCRIBE {quote(table)}").fetchall()
    return [(row[0], row[1]) for row in rows]


@dataclass
class StepContext:
    """What a driver gets: its step, resolved config, upstream tables and places to write."""

    step_id: str
    config: dict[str, Any]
    connection: Any  # duckdb.DuckDBPyConnection, typed loosely to keep duckdb import lazy
    inputs: dict[str, str]  # upstream step id -> table name
    base_path: Path
    artifacts_dir: Path  # run_logs/.../artifacts/<step_id>/, created by the runner
    log: Any = None  # callable(message: str) writing to osiris.log


@dataclass
class StepResult:
    """What a driver reports: rows read and written, its output table, files it wrote."""

    rows_in: int = 0
    rows_out: int = 0
    table: str | None = None
    outputs: list[Path] = field(default_factory=list)


class Driver(Protocol):
    def run(self, ctx: StepContext) -> StepResult: ...
