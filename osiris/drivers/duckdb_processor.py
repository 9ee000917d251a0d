"""`duckdb.processor`: run a SQL query over the upstream tables into the step's table."""

from __future__ import annotations

from typing import Any

from osiris.drivers.base import StepContext, StepResult, table_name

SINGLE_INPUT_VIEW = "input_df"


class DuckdbProcessor:
    """Creates table `df_<step_id>` from `config.query`, which sees `df_<upstream>` tables.

    With exactly one upstream step the query may also name it `input_df`.
    """

    def run(self, ctx: StepContext) -> StepResult:
        connection = ctx.connection
        views: list[str] = []
        try:
            for upstream, source in ctx.inputs.items():
                alias = table_name(upstream)
                if alias != source:
                    views.append(_create_view(connection, alias, source))
            if len(ctx.inputs) == 1:
                views.append(_create_view(connection, SINGLE_INPUT_VIEW, *ctx.inputs.values()))
            rows_in = sum(_count(connection, source) for source in ctx.inputs.values())
            table = table_name(ctx.step_id)
            query = ctx.config["query"].strip().rstrip(";")
            connection.execute(f'CREATE OR REPLACE TABLE "{table}" AS {query}')
        finally:
            # A later step must never see this step's `input_df`.
            for view in views:
                connection.execute(f'DROP VIEW IF EXISTS "{view}"')
        return StepResult(rows_in=rows_in, rows_out=_count(connection, table), table=table)


def _create_view(connection: Any, name: str, source: str) -> str:
    connection.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM "{source}"')
    return name


def _count(connection: Any, table: str) -> int:
    (rows,) = connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
    return rows
