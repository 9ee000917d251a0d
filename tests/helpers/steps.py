"""Run one driver step directly on a DuckDB connection, as the runner would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from osiris.core.registry import driver_for, get_spec
from osiris.drivers.base import StepContext, StepResult, table_name


def run_step(
    component: str,
    config: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    base: Path,
    step_id: str = "step",
    needs: tuple[str, ...] = (),
    log: Callable[[str], None] | None = None,
) -> StepResult:
    """Run `component` with `config` (spec defaults filled in) as step `step_id`."""
    ctx = StepContext(
        step_id=step_id,
        config=get_spec(component).with_defaults(config),
        connection=con,
        inputs={need: table_name(need) for need in needs},
        base_path=base,
        artifacts_dir=base / "artifacts" / step_id,
        log=log,
    )
    return driver_for(component).run(ctx)
